"""Warm-started partial symmetric eigensolver: top-k by |eigenvalue| against the full eigh."""

import pytest
import torch

from difftn.linalg.partial_eigh import top_eigh


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
