"""Warm-started partial symmetric eigensolver: top-k by |eigenvalue| against the full eigh."""

import pytest
import torch

from difftn.linalg.partial_eigh import cholesky_qr, top_eigh


def _matrix(n, seed):
    """Symmetric n x n matrix with eigenvalues +-0.8^j (both signs, decaying like a corner spectrum)."""
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    signs = torch.where(torch.arange(n) % 3 == 1, -1.0, 1.0).to(torch.float64)
    values = signs * 0.8 ** torch.arange(n, dtype=torch.float64)
    return (Q * values) @ Q.T, values, Q


def test_top_eigenpairs_match_the_full_decomposition():
    M, values, _ = _matrix(200, seed=0)
    L, P, iterations = top_eigh(M, 20, tol=1e-12, max_iter=200)
    assert torch.allclose(L, values[:20], rtol=0, atol=1e-14)  # measured 1.0e-15
    # the projector onto the kept space, which is what CTMRG uses
    _, Q = torch.linalg.eigh(M)
    full = Q[:, torch.argsort(torch.linalg.eigvalsh(M).abs(), descending=True)[:20]]
    assert torch.allclose(P @ P.T, full @ full.T, atol=1e-12)  # measured 3e-15 (residual bound 1e-12)
    assert torch.allclose(P.T @ P, torch.eye(20, dtype=torch.float64), atol=3e-14)  # measured 3.1e-15


def test_a_warm_start_needs_fewer_products():
    M, values, Q = _matrix(200, seed=1)
    _, _, cold = top_eigh(M, 20, tol=1e-12, max_iter=200)
    gen = torch.Generator().manual_seed(2)
    guess = Q[:, :20] + 1e-6 * torch.randn(200, 20, generator=gen, dtype=torch.float64)
    L, _, warm = top_eigh(M, 20, guess, tol=1e-12, max_iter=200)
    assert warm < cold  # measured 3 against 6 products
    assert torch.allclose(L, values[:20], rtol=0, atol=1e-14)  # measured 1.2e-15


def test_not_converged_returns_none():
    M, _, _ = _matrix(200, seed=3)
    assert top_eigh(M, 20, tol=1e-12, max_iter=2) is None


def _columns(m, n, cond, seed):
    """m x n matrix with singular values from 1 down to 1/cond (log-spaced)."""
    gen = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(m, n, generator=gen, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    s = torch.logspace(0, -torch.log10(torch.tensor(float(cond))).item(), n, dtype=torch.float64)
    return (U * s) @ V.T


def test_cholesky_qr_of_nearly_orthonormal_columns():
    """The case it serves: re-orthonormalizing a block that is orthonormal up to a small perturbation."""
    X = torch.linalg.qr(_columns(300, 40, 1.0, seed=0))[0] + 1e-3 * _columns(300, 40, 10.0, seed=1)
    Q, R, used_cholesky = cholesky_qr(X)
    assert used_cholesky
    eye = torch.eye(40, dtype=torch.float64)
    assert torch.allclose(Q.T @ Q, eye, rtol=0, atol=1e-14)  # measured 1.3e-15
    assert torch.allclose(Q @ R, X, rtol=0, atol=1e-14)  # measured 4e-16
    assert torch.allclose(torch.triu(R), R) and bool((torch.diagonal(R) > 0).all())
    Qh, _ = torch.linalg.qr(X)
    assert torch.allclose(Q.abs(), Qh.abs(), rtol=0, atol=1e-13)  # same basis up to signs; measured 2e-15


@pytest.mark.parametrize("cond", [1e2, 1e8])
def test_cholesky_qr_falls_back_to_householder_when_ill_conditioned(cond):
    """Gram matrix far from the identity (cond(X) = 1e2, 1e8; CholQR would lose ~eps cond^2): Householder."""
    X = _columns(300, 40, cond, seed=2)
    Q, R, used_cholesky = cholesky_qr(X)
    assert not used_cholesky
    assert torch.allclose(Q.T @ Q, torch.eye(40, dtype=torch.float64), rtol=0, atol=1e-14)  # measured 1.1e-15
    assert torch.allclose(Q @ R, X, rtol=0, atol=1e-14)  # measured 3e-16


def test_cholesky_qr_decision_sits_far_above_rounding():
    """The branch follows |S G S - I|_F against 1/2: deviations of 0.3 and 0.7 land on either side."""
    gen = torch.Generator().manual_seed(3)
    Q0, _ = torch.linalg.qr(torch.randn(300, 2, generator=gen, dtype=torch.float64))
    for c, expected in ((0.3 / 2**0.5, True), (0.7 / 2**0.5, False)):  # two unit columns at cosine c: |G - I|_F = c sqrt 2
        X = torch.stack([Q0[:, 0], c * Q0[:, 0] + (1 - c**2) ** 0.5 * Q0[:, 1]], dim=1)
        Q, R, used_cholesky = cholesky_qr(X)
        assert used_cholesky is expected
        assert torch.allclose(Q.T @ Q, torch.eye(2, dtype=torch.float64), rtol=0, atol=1e-15)  # measured 2e-16
        assert torch.allclose(Q @ R, X, rtol=0, atol=1e-15)
