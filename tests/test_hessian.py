"""Hessian-vector products (difftn.methods.hessian) against exact Hessians and finite differences.

Oracles: a quadratic, whose Hessian is its matrix; central differences of the
(AD) gradient, (g(x + h v) - g(x - h v)) / 2h = H v + O(h^2), for an iPEPS
energy through CTMRG and for ln Z of the 2D Ising model through TRG; the
symmetry <u, H v> = <v, H u>; and, at zero field, the Z2 symmetry of ln Z
and the specific heat of ``trg_observables``.
"""

import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.contract.fixedpoint import FixedPointError
from difftn.contract.trg import TRGOptions, trg_lnz
from difftn.methods.hessian import HVP_MODES, hessian_operator, hvp
from difftn.methods.ipeps import evaluate
from difftn.methods.thermodynamics import trg_observables
from difftn.models.heisenberg import bond_hamiltonian

F64 = torch.float64
STEP = 1e-5  # central-difference step of the gradient


def _fd_hvp(loss_fn, x, v, step=STEP):
    """Central difference of the gradient along v."""
    _, gp, _ = hessian_operator(loss_fn, x + step * v)
    _, gm, _ = hessian_operator(loss_fn, x - step * v)
    return (gp - gm) / (2 * step)


# ---------------------------------------------------------------- quadratic


@pytest.fixture
def quadratic():
    """f(x) = x.A x / 2 + b.x with a fixed symmetric A (not definite): H = A exactly."""
    gen = torch.Generator().manual_seed(7)
    M = torch.randn(6, 6, generator=gen, dtype=F64)
    A = M + M.T
    b = torch.randn(6, generator=gen, dtype=F64)
    x = torch.randn(6, generator=gen, dtype=F64)
    v = torch.randn(6, generator=gen, dtype=F64)
    return A, b, x, v


@pytest.mark.parametrize("mode", HVP_MODES)
def test_quadratic_hessian_is_exact(quadratic, mode):
    A, b, x, v = quadratic
    r = hvp(lambda y: 0.5 * y @ A @ y + b @ y, x, v, mode=mode)
    # H v = A v and the gradient: measured 2.2e-16 in both modes.
    torch.testing.assert_close(r.hv, A @ v, rtol=0, atol=1e-14)
    torch.testing.assert_close(r.grad, A @ x + b, rtol=0, atol=1e-14)
    assert float(r.loss) == pytest.approx(float(0.5 * x @ A @ x + b @ x), rel=1e-15)


def test_shaped_parameters_and_modes_agree():
    # A non-quadratic pure-torch loss of a (2, 3) tensor: both modes give the
    # same H v (measured 1.4e-16; gradients identical) and match finite
    # differences (measured 2.0e-10).
    gen = torch.Generator().manual_seed(3)
    W = torch.randn(3, 3, generator=gen, dtype=F64)
    x = torch.randn(2, 3, generator=gen, dtype=F64)
    v = torch.randn(2, 3, generator=gen, dtype=F64)

    def loss(y):
        return torch.tanh(y @ W).pow(2).sum() + torch.sin(y).prod()

    a = hvp(loss, x, v, mode="double_backward")
    b = hvp(loss, x, v, mode="forward_over_reverse")
    assert a.hv.shape == x.shape
    torch.testing.assert_close(a.hv, b.hv, rtol=0, atol=1e-14)
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-15)
    torch.testing.assert_close(a.hv, _fd_hvp(loss, x, v), rtol=0, atol=1e-9)


def test_bad_mode_and_shape_rejected(quadratic):
    A, b, x, v = quadratic
    f = lambda y: 0.5 * y @ A @ y  # noqa: E731
    with pytest.raises(ValueError, match="hvp mode must be one of"):
        hvp(f, x, v, mode="reverse_over_forward")
    with pytest.raises(ValueError, match="v has shape"):
        hvp(f, x, v[:3])


# ---------------------------------------------------------------- iPEPS energy through CTMRG


def _ipeps_loss(grad_mode, eps=None, tol=1e-30, max_iter=20):
    """Energy per site of a D = 2 C4v iPEPS at chi = 8 (plaquette estimator).

    By default a fixed number of CTMRG steps (tol 1e-30 is never reached):
    the loss is then one smooth function of A, which finite differences can
    test without the iteration count changing between x + hv and x - hv.
    """
    kw = {} if eps is None else {"eps": eps}
    options = CTMRGOptions(chi=8, tol=tol, max_iter=max_iter, grad_mode=grad_mode, **kw)
    h = bond_hamiltonian(rotated=True, dtype=F64)
    return lambda A: evaluate(A, h, options)[0]


@pytest.fixture
def ipeps_point():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(2, 2, 2, 2, 2, generator=gen, dtype=F64)
    u = torch.randn(2, 2, 2, 2, 2, generator=gen, dtype=F64)
    v = torch.randn(2, 2, 2, 2, 2, generator=gen, dtype=F64)
    return A, u, v


@pytest.mark.parametrize("grad_mode", ["unrolled", "checkpoint"])
def test_ipeps_hvp_matches_finite_differences(ipeps_point, grad_mode):
    A, _, v = ipeps_point
    loss = _ipeps_loss(grad_mode)
    r = hvp(loss, A, v)
    # Measured max |H v - FD| = 1.0e-10 (|H v| = 2.9e-2) in both modes; the
    # FD error is 1.0e-9 at step 1e-4 (O(h^2)) and 1.8e-10 at 1e-6 (rounding).
    err = float((r.hv - _fd_hvp(loss, A, v)).abs().max())
    assert err < 1e-9
    assert float(r.hv.abs().max()) > 1e-2  # not trivially zero


def test_ipeps_hvp_modes_agree(ipeps_point):
    A, _, v = ipeps_point
    a = hvp(_ipeps_loss("unrolled"), A, v)
    b = hvp(_ipeps_loss("checkpoint"), A, v)
    # Same operations, recomputed: measured identical (0).
    torch.testing.assert_close(a.hv, b.hv, rtol=0, atol=1e-15)


@pytest.mark.parametrize("eps, bound", [(1e-12, 3e-12), (1e-20, 1e-15)])
def test_ipeps_hessian_symmetry(ipeps_point, eps, bound):
    # <u, H v> = <v, H u> up to the Lorentzian broadening of 1/(l_i - l_j) in
    # the eigh backward, which makes the backward the exact derivative of a
    # slightly different function: measured |<u,Hv> - <v,Hu>| = 3.4e-13 at
    # the default eps = 1e-12 and 4.2e-17 (rounding; <u,Hv> = -9.0e-2) at 1e-20.
    A, u, v = ipeps_point
    _, _, matvec = hessian_operator(_ipeps_loss("unrolled", eps=eps), A)
    uHv, vHu = float((u * matvec(v)).sum()), float((v * matvec(u)).sum())
    assert abs(uHv) > 1e-2
    assert abs(uHv - vHu) < bound


def _gauge_generator(A, G):
    """d/dt of A with exp(tG) on each of its four virtual legs, at t = 0."""
    return (torch.einsum("ua,sabcd->subcd", G, A) + torch.einsum("lb,sabcd->salcd", G, A)
            + torch.einsum("xc,sabcd->sabxd", G, A)
            + torch.einsum("rd,sabcd->sabcr", G, A))  # fmt: skip


def test_ipeps_hessian_obeys_the_gauge_symmetry(ipeps_point):
    """The energy is invariant under an orthogonal O on all four virtual legs (O O^T = 1 on each bond).

    Differentiating E(exp(tG) A) = E(A) (G antisymmetric) in t and then in A
    along v gives an exact identity at every A, stationary or not:
    <v, H (G A)> = -<grad E, G v>, where G acts on each virtual leg.  At a
    minimum it makes G A a zero mode of H: D(D-1)/2 of them (see
    benchmarks/newton_vs_lbfgs.py hessian).
    """
    A, u, v = ipeps_point
    G = torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64)
    # 40 CTMRG steps: the first steps from the symmetric identity boundary have
    # exactly degenerate corner spectra, where the broadened eigh backward is not
    # the exact derivative; later steps damp that (measured |<grad, G A>| =
    # 6.5e-11 after 20 steps, 5.2e-14 after 40, the same after 80).
    loss = _ipeps_loss("checkpoint", max_iter=40)
    _, grad, matvec = hessian_operator(loss, A)
    H_GA = matvec(_gauge_generator(A, G))
    for w in (u, v):
        lhs = float((w * H_GA).sum())
        rhs = -float((grad * _gauge_generator(w, G)).sum())
        # measured: -0.788 and -0.126, equal to 9.1e-13 and 4.7e-13 (40 and 80 steps alike)
        assert abs(rhs) > 1e-2
        assert lhs == pytest.approx(rhs, rel=3e-11, abs=0)


def test_ipeps_forward_over_reverse_names_the_function(ipeps_point):
    A, _, v = ipeps_point
    with pytest.raises(NotImplementedError, match=r"forward_over_reverse.*difftn\.linalg\.eigh\._Eigh.*jvp"):
        hvp(_ipeps_loss("unrolled"), A, v, mode="forward_over_reverse")


def test_fixed_point_mode_refuses_second_derivatives(ipeps_point):
    # Before: the implicit backward ran under create_graph as a constant, and
    # H v came out 2.1e-2 off (|H v| = 2.9e-2) without a word (measured on main).
    A, _, v = ipeps_point
    loss = _ipeps_loss("fixed_point", tol=1e-10, max_iter=200)
    with pytest.raises(FixedPointError, match="not twice differentiable"):
        hvp(loss, A, v)
    # First derivatives are unaffected: the gradient equals the unrolled one
    # of a converged run (measured 4.2e-11; CTMRG converged to 1e-10).
    x = A.clone().requires_grad_()
    (g_fp,) = torch.autograd.grad(loss(x), x)
    (g_un,) = torch.autograd.grad(_ipeps_loss("unrolled", tol=1e-10, max_iter=200)(x), x)
    torch.testing.assert_close(g_fp, g_un, rtol=0, atol=4e-10)


# ---------------------------------------------------------------- ln Z of the Ising model through TRG


def _ising_field_tensor(x):
    """T[u,l,d,r] of the Ising model at coupling K = x[0] and field H = x[1] (both times beta).

    Eq. 9 of the paper with the site weight exp(H s): T = sum_s e^{H s}
    W[s,u] W[s,l] W[s,d] W[s,r], W = [[sqrt cosh K, sqrt sinh K],
    [sqrt cosh K, -sqrt sinh K]] (rows s = +1, -1).
    """
    c, s = torch.sqrt(torch.cosh(x[0])), torch.sqrt(torch.sinh(x[0]))
    W = torch.stack([torch.stack([c, s]), torch.stack([c, -s])])
    weight = torch.exp(x[1] * torch.tensor([1.0, -1.0], dtype=x.dtype, device=x.device))
    return torch.einsum("s,su,sl,sd,sr->uldr", weight, W, W, W, W)


def _lnz_loss(checkpoint=False, eps=None):
    kw = {} if eps is None else {"eps": eps}
    options = TRGOptions(chi=8, steps=8, checkpoint=checkpoint, **kw)
    return lambda x: trg_lnz(_ising_field_tensor(x), options)[0]


@pytest.mark.parametrize("checkpoint", [False, True])
def test_trg_hvp_matches_finite_differences(checkpoint):
    x = torch.tensor([0.35, 0.1], dtype=F64)
    v = torch.tensor([0.6, -0.8], dtype=F64)
    r = hvp(_lnz_loss(checkpoint), x, v)
    # Measured max |H v - FD| = 7.2e-9 (|H v| = 1.06; entries of H up to 6.0),
    # with and without checkpoint; 1.1e-7 at step 1e-4 (O(h^2)).
    err = float((r.hv - _fd_hvp(_lnz_loss(checkpoint), x, v)).abs().max())
    assert err < 5e-8
    assert float(r.hv.abs().max()) > 0.5


@pytest.mark.parametrize("eps, bound", [(1e-12, 4e-8), (1e-20, 2e-10)])
def test_trg_hessian_symmetry(eps, bound):
    # H[K,H] - H[H,K], entries ~ 3.2: measured 4.3e-9 with the default SVD
    # broadening eps = 1e-12 and 2.3e-11 with 1e-20 (4e-12 relative: rounding
    # amplified through 8 steps of SVD derivatives).
    x = torch.tensor([0.35, 0.1], dtype=F64)
    _, _, matvec = hessian_operator(_lnz_loss(eps=eps), x)
    e0, e1 = torch.eye(2, dtype=F64)
    assert abs(float(e0 @ matvec(e1))) > 1.0
    assert abs(float(e0 @ matvec(e1) - e1 @ matvec(e0))) < bound


def test_trg_zero_field_hessian():
    # At H = 0, ln Z is even in H: d2 lnZ / dK dH = 0 (measured 3.6e-14), and
    # d2 lnZ / dK2 = C / K^2 from trg_observables (same TRG, another code path;
    # measured equal to 1.1e-16 relative, value 6.67; ln Z identical).
    beta = 0.4
    x = torch.tensor([beta, 0.0], dtype=F64)
    r = hvp(_lnz_loss(), x, torch.tensor([1.0, 0.0], dtype=F64))
    assert abs(float(r.hv[1])) < 4e-13
    c = trg_observables(beta, chi=8, steps=8, symmetry="none")["specific_heat"]
    assert float(r.hv[0]) == pytest.approx(c / beta**2, rel=1e-14)
    assert float(r.loss) == pytest.approx(trg_observables(beta, chi=8, steps=8, symmetry="none")["lnz"], rel=1e-14)


def test_trg_forward_over_reverse_names_the_function():
    x = torch.tensor([0.35, 0.1], dtype=F64)
    with pytest.raises(NotImplementedError, match=r"forward_over_reverse.*difftn\.contract\.trg\._Advance"):
        hvp(_lnz_loss(), x, torch.ones(2, dtype=F64), mode="forward_over_reverse")
