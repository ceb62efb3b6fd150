"""Tests of difftn.linalg.svd: forward, truncation, errors, first and second
derivatives (gradcheck / gradgradcheck in float64) and the backward at exactly
degenerate and exactly zero singular values.

Every derivative test differentiates a gauge-invariant function of the
factors (S, U diag(f(S)) V^T, the projectors U U^T and V V^T), because U and V
themselves are defined only up to a sign (or rotation) per singular subspace.
"""

import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from difftn.linalg import svd
from difftn.models.ising import BETA_C, ising_tensor
from difftn.trg import trg_step

DT = torch.float64

# gradcheck compares against central differences with step 1e-6, whose error in
# float64 is O(h^2) truncation plus ~1e-16 |f| / h rounding; the broadened
# reciprocals shift the analytic result by ~eps/gap^2 ~ 1e-10 for the gaps
# (>= 0.05) of these matrices.  Measured worst mismatch: 4e-9 on O(1) Jacobian
# entries, 2e-8 for the 16 x 16 Ising projector, ~1e-9 relative on the O(100)
# entries of sum(S^4).  atol 1e-7 / rtol 1e-6 keeps a 5-25x margin and is far
# tighter than the torch defaults (atol 1e-5, rtol 1e-3).
GC = dict(atol=1e-7, rtol=1e-6)


def randn(*shape, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=DT)


def orthonormal_columns(m, n, seed):
    """An (m, n) matrix with orthonormal columns, drawn from a fixed seed."""
    Q, R = torch.linalg.qr(randn(m, n, seed=seed))
    return Q * torch.sign(torch.diagonal(R))


def with_spectrum(m, n, s, seed):
    """Real (m, n) matrix Q1 diag(s) Q2^T with random orthonormal Q1, Q2."""
    r = len(s)
    Q1 = orthonormal_columns(m, r, seed)
    Q2 = orthonormal_columns(n, r, seed + 1)
    return Q1 @ torch.diag(torch.tensor(s, dtype=DT)) @ Q2.mT


def reconstruct(U, S, V):
    return U @ torch.diag(S) @ V.mT


# --------------------------------------------------------------------------
# Forward


SHAPES = [(6, 6), (8, 5), (5, 8), (1, 4), (4, 1)]


@pytest.mark.parametrize("shape", SHAPES)
def test_factors_reconstruct_and_are_orthonormal(shape):
    m, n = shape
    r = min(m, n)
    A = randn(m, n, seed=1)
    U, S, V = svd(A)
    assert U.shape == (m, r) and S.shape == (r,) and V.shape == (n, r)
    assert U.dtype == S.dtype == V.dtype == DT
    # LAPACK is backward stable: residuals are a few ulps of ||A||.
    norm = torch.linalg.matrix_norm(A)
    assert torch.allclose(reconstruct(U, S, V), A, atol=1e-13 * norm, rtol=0)
    eye = torch.eye(r, dtype=DT)
    assert torch.allclose(U.mT @ U, eye, atol=1e-13, rtol=0)
    assert torch.allclose(V.mT @ V, eye, atol=1e-13, rtol=0)
    assert (S >= 0).all() and (S[:-1] >= S[1:]).all()


@pytest.mark.parametrize("shape", SHAPES)
def test_singular_values_match_gram_eigenvalues(shape):
    # Independent route: s_i^2 are the eigenvalues of the smaller Gram matrix.
    m, n = shape
    A = randn(m, n, seed=2)
    gram = A.mT @ A if m >= n else A @ A.mT
    expected = torch.linalg.eigvalsh(gram).flip(0).clamp(min=0)
    _, S, _ = svd(A)
    assert torch.allclose(S**2, expected, atol=1e-12 * float(expected[0]), rtol=0)


def test_truncation_keeps_the_k_largest_triplets():
    # Singular values placed in scrambled order on known orthonormal columns.
    s = [2.0, 5.0, 1.0, 4.0, 3.0]
    Q1 = orthonormal_columns(7, 5, seed=3)
    Q2 = orthonormal_columns(6, 5, seed=4)
    A = Q1 @ torch.diag(torch.tensor(s, dtype=DT)) @ Q2.mT
    U, S, V = svd(A, k=2)
    assert U.shape == (7, 2) and S.shape == (2,) and V.shape == (6, 2)
    assert torch.allclose(S, torch.tensor([5.0, 4.0], dtype=DT), atol=1e-13, rtol=0)
    # The kept subspaces are those of the singular values 5 and 4.
    Pu, Pv = Q1[:, [1, 3]] @ Q1[:, [1, 3]].mT, Q2[:, [1, 3]] @ Q2[:, [1, 3]].mT
    assert torch.allclose(U @ U.mT, Pu, atol=1e-13, rtol=0)
    assert torch.allclose(V @ V.mT, Pv, atol=1e-13, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_truncated_svd_is_best_low_rank_approximation(k):
    # Eckart-Young: ||A - A_k||_F^2 = sum of the discarded s_i^2, and the kept
    # triplets are the leading ones of the full decomposition.
    A = randn(7, 5, seed=5)
    U, S, V = svd(A)
    Uk, Sk, Vk = svd(A, k=k)
    assert torch.allclose(Sk, S[:k], atol=1e-14, rtol=0)
    residual = torch.linalg.matrix_norm(A - reconstruct(Uk, Sk, Vk)) ** 2
    assert abs(float(residual) - float((S[k:] ** 2).sum())) < 1e-12


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="matrix"):
        svd(torch.ones(3, dtype=DT))
    with pytest.raises(ValueError, match="matrix"):
        svd(torch.ones(2, 3, 4, dtype=DT))
    with pytest.raises(TypeError, match="real"):
        svd(torch.ones(3, 3, dtype=torch.complex128))
    for k in (0, -1):
        with pytest.raises(ValueError, match="k"):
            svd(torch.ones(3, 3, dtype=DT), k=k)


# --------------------------------------------------------------------------
# First and second derivatives on generic matrices


def invariants(k):
    """A -> gauge-invariant functions of the (possibly truncated) factors."""

    def fn(A):
        U, S, V = svd(A, k=k)
        return S, U @ torch.diag(torch.sin(S)) @ V.mT, U @ U.mT, V @ V.mT

    return fn


# (shape, k): square, tall, wide, and truncated versions of each.
GRAD_CASES = [
    ((5, 5), None),
    ((6, 4), None),
    ((4, 6), None),
    ((6, 6), 3),
    ((7, 5), 2),
    ((5, 7), 3),
]


@pytest.mark.parametrize("shape,k", GRAD_CASES)
def test_gradcheck_generic(shape, k):
    A = randn(*shape, seed=10).requires_grad_()
    _, S, _ = torch.linalg.svd(A.detach())
    assert (S[:-1] - S[1:]).min() > 0.05  # non-degenerate test matrix
    assert gradcheck(invariants(k), (A,), **GC)


@pytest.mark.parametrize("shape,k", GRAD_CASES)
def test_gradgradcheck_generic(shape, k):
    A = randn(*shape, seed=11).requires_grad_()
    _, S, _ = torch.linalg.svd(A.detach())
    assert (S[:-1] - S[1:]).min() > 0.05
    assert gradgradcheck(invariants(k), (A,), **GC)


# --------------------------------------------------------------------------
# Exactly degenerate and exactly zero singular values


def weights(m, n, seed):
    return randn(m, n, seed=seed), randn(n, n, seed=seed + 1), randn(m, m, seed=seed + 2)


def smooth_losses(m, n, kgaps, seed=30):
    """Scalar gauge-invariant losses that are differentiable at the test matrix.

    ``kgaps`` are truncations k with s_k > s_{k+1}: there the kept subspaces
    are smooth functions of A, so projectors and the rank-k approximation are
    differentiable even though other singular values coincide or vanish.
    sum(S^2) = ||A||_F^2 and sum(S^4) = ||A^T A||_F^2 are smooth everywhere.
    (sum(S) is not: |s| has a kink at s = 0.)
    """
    W, Wv, Wu = weights(m, n, seed)
    losses = {"sum S^2 + S^4": lambda A: (svd(A)[1] ** 2 + svd(A)[1] ** 4).sum()}
    for k in kgaps:

        def proj(A, k=k):
            U, _, V = svd(A, k=k)
            return (Wu * (U @ U.mT)).sum() + (Wv * (V @ V.mT)).sum()

        losses[f"projectors k={k}"] = proj
    k0 = kgaps[0]
    losses[f"rank-{k0} approximation"] = lambda A: (W * reconstruct(*svd(A, k=k0))).sum()
    return losses


DEGENERATE = {
    # s = (3, 1, 1, 0, 0): a degenerate pair and a doubly zero value.
    "square": with_spectrum(5, 5, [3.0, 1.0, 1.0, 0.0, 0.0], seed=20),
    "tall": with_spectrum(7, 5, [3.0, 1.0, 1.0, 0.0, 0.0], seed=22),
    "wide": with_spectrum(5, 7, [3.0, 1.0, 1.0, 0.0, 0.0], seed=24),
}


@pytest.mark.parametrize("name", DEGENERATE)
def test_degenerate_and_zero_singular_values_give_correct_finite_gradients(name):
    A0 = DEGENERATE[name]
    _, S, _ = torch.linalg.svd(A0)
    assert abs(float(S[1] - S[2])) < 1e-14 and float(S[3]) < 1e-14  # truly degenerate
    for label, loss in smooth_losses(*A0.shape, kgaps=(1, 3)).items():
        A = A0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(loss(A), A)
        assert torch.isfinite(grad).all(), label
        # gradcheck also compares with central differences of step 1e-6.
        assert gradcheck(loss, (A,), **GC), label


def ising_matrices():
    """Reshaped Ising tensors: Z2 symmetry forces exact zero singular values.

    T[u,l,d,r] as a (ul) x (dr) matrix has singular values 2 cosh 2b, 2 sinh 2b, 0, 0;
    after one TRG step the 16 x 16 matrix has rank 4.
    """
    out = {}
    for beta in (0.4, BETA_C):
        T = ising_tensor(torch.tensor(beta, dtype=DT))
        out[f"T(beta={beta:.4f}) 4x4"] = (T.reshape(4, 4), (1, 2))
        T1, _ = trg_step(T / torch.linalg.vector_norm(T), chi=16)
        out[f"T1(beta={beta:.4f}) 16x16"] = (T1.reshape(16, 16), (2, 4))
    return out


ISING = ising_matrices()


@pytest.mark.parametrize("name", ISING)
def test_ising_matrix_with_z2_zeros_gives_correct_finite_gradients(name):
    A0, kgaps = ISING[name]
    S = torch.linalg.svdvals(A0)
    k = kgaps[-1]
    assert float(S[k]) < 1e-14 * float(S[0]) < float(S[k - 1])  # zeros beyond rank k
    if A0.shape == (4, 4):
        beta = 0.4 if "0.4000" in name else BETA_C
        beta = torch.tensor(beta, dtype=DT)
        expected = torch.stack([2 * torch.cosh(2 * beta), 2 * torch.sinh(2 * beta)])
        assert torch.allclose(S[:2], expected, atol=1e-13, rtol=0)
    for label, loss in smooth_losses(*A0.shape, kgaps=kgaps).items():
        A = A0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(loss(A), A)
        assert torch.isfinite(grad).all(), label
        assert gradcheck(loss, (A,), **GC), label


@pytest.mark.xfail(
    strict=True,
    reason="Known limitation of Lorentzian broadening: inside an exactly degenerate "
    "(or zero) block the divided difference (f(s_j) - f(s_i))/(s_j - s_i) -> f'(s) "
    "is replaced by 0, so d/dA <W, U diag(S) V^T> = W is missed in those blocks.",
)
def test_reconstruction_gradient_at_exact_degeneracy():
    # U diag(S) V^T is A itself: the exact gradient of <W, U S V^T> is W.
    A0 = DEGENERATE["square"]
    W, _, _ = weights(5, 5, seed=40)
    A = A0.clone().requires_grad_()
    (grad,) = torch.autograd.grad((W * reconstruct(*svd(A))).sum(), A)
    assert torch.allclose(grad, W, atol=1e-6, rtol=0)


def test_reconstruction_gradient_is_exact_without_degeneracy():
    # Control for the xfail above: same loss, distinct nonzero singular values.
    A0 = with_spectrum(5, 5, [3.0, 2.0, 1.0, 0.5, 0.2], seed=20)
    W, _, _ = weights(5, 5, seed=40)
    A = A0.clone().requires_grad_()
    (grad,) = torch.autograd.grad((W * reconstruct(*svd(A))).sum(), A)
    # 1/(s_j -+ s_i) broadened by eps = 1e-12 with gaps >= 0.3: error ~1e-11.
    assert torch.allclose(grad, W, atol=1e-9, rtol=0)
