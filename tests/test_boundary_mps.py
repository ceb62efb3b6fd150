"""Tests of difftn.contract.boundary_mps: exact contraction against a direct einsum of
the whole network, MPS compression (exact at full rank, optimal truncation),
scale bookkeeping without overflow, and clear errors."""

import math
import string

import pytest
import torch
from torch.autograd import gradcheck

from difftn.contract.boundary_mps import BoundaryMPSOptions, boundary_mps_lnz, compress

DT = torch.float64


def random_grid(rows, cols, D, seed, positive=True):
    """rows x cols tensors A[u,l,d,r] with inner bonds D, outer legs 1."""
    gen = torch.Generator().manual_seed(seed)
    grid = []
    for i in range(rows):
        row = []
        for j in range(cols):
            shape = (1 if i == 0 else D, 1 if j == 0 else D, 1 if i == rows - 1 else D, 1 if j == cols - 1 else D)
            x = torch.rand(*shape, generator=gen, dtype=DT)
            row.append(x + 0.1 if positive else x - 0.3)
        grid.append(row)
    return grid


def direct_contraction(grid):
    """Z by one einsum over the whole network (an independent exact oracle)."""
    rows, cols = len(grid), len(grid[0])
    letters = iter(string.ascii_letters)
    v = {(i, j): next(letters) for i in range(rows + 1) for j in range(cols)}  # bond above site (i, j)
    h = {(i, j): next(letters) for i in range(rows) for j in range(cols + 1)}  # bond left of site (i, j)
    terms = [v[i, j] + h[i, j] + v[i + 1, j] + h[i, j + 1] for i in range(rows) for j in range(cols)]
    return torch.einsum(",".join(terms) + "->", *[A for row in grid for A in row])


@pytest.mark.parametrize("rows, cols, D", [(1, 4, 2), (3, 1, 3), (3, 3, 2), (3, 4, 2), (4, 3, 2)])
def test_exact_at_large_chi_equals_direct_contraction(rows, cols, D):
    grid = random_grid(rows, cols, D, seed=rows * 10 + cols)
    lnz, info = boundary_mps_lnz(grid, BoundaryMPSOptions(chi=64))
    assert float(lnz) == pytest.approx(math.log(float(direct_contraction(grid))), abs=1e-12)
    assert info.max_truncation_error < 1e-20


def test_truncation_error_decreases_with_chi():
    grid = random_grid(4, 5, 2, seed=3)
    exact = math.log(float(direct_contraction(grid)))
    errors = [abs(float(boundary_mps_lnz(grid, BoundaryMPSOptions(chi=chi))[0]) - exact) for chi in (1, 2, 4)]
    # chi = 4 = 2^2 is the largest Schmidt rank of 5 columns of bond 2: exact.
    assert errors[0] > errors[1] > 1e-8 and errors[2] < 1e-12


def test_scaling_every_tensor_adds_n_ln_c_without_overflow():
    grid = random_grid(12, 12, 2, seed=5)
    lnz, _ = boundary_mps_lnz(grid, BoundaryMPSOptions(chi=8))
    big = [[A * 1e30 for A in row] for row in grid]  # Z ~ 1e4320: overflows any float
    lnz_big, _ = boundary_mps_lnz(big, BoundaryMPSOptions(chi=8))
    assert math.isfinite(float(lnz_big))
    assert float(lnz_big - lnz) == pytest.approx(144 * 30 * math.log(10), rel=1e-14)


def test_gradient_of_ln_z_matches_finite_differences():
    grid = random_grid(3, 3, 2, seed=7)
    center = grid[1][1].clone().requires_grad_()

    def f(A):
        g = [row[:] for row in grid]
        g[1][1] = A
        return boundary_mps_lnz(g, BoundaryMPSOptions(chi=8))[0]

    assert gradcheck(f, (center,), atol=1e-8, rtol=1e-7)


def mps_vector(mps):
    """The full state of an MPS (a = b = 1 at the ends) as a vector."""
    v = mps[0]
    for M in mps[1:]:
        v = torch.tensordot(v, M, dims=([v.dim() - 1], [0]))
    return v.reshape(-1)


def random_mps(n, p, D, seed):
    gen = torch.Generator().manual_seed(seed)
    dims = [1] + [D] * (n - 1) + [1]
    return [torch.randn(dims[j], p, dims[j + 1], generator=gen, dtype=DT) for j in range(n)]


def test_compress_is_exact_at_full_rank_and_shrinks_redundant_bonds():
    mps = random_mps(5, 2, 3, seed=1)
    # Double every bond with a copy: same state times 2^4, bond 6 of rank 3.
    doubled = []
    for j, M in enumerate(mps):
        a, p, b = M.shape
        left = torch.cat([M, M], 0) if j > 0 else M
        doubled.append(torch.cat([left, left], 2) if j < 4 else left)
    doubled = [M / (2 if 0 < j else 1) for j, M in enumerate(doubled)]  # undo the factor of 2 per inner bond
    out, log_norm, discarded = compress(doubled, BoundaryMPSOptions(chi=10))
    assert [M.shape[2] for M in out] == [2, 3, 3, 2, 1]  # the ranks: min(2^j, 2^(5-j), 3)
    assert discarded < 1e-24
    torch.testing.assert_close(math.exp(log_norm) * mps_vector(out), mps_vector(mps), rtol=1e-12, atol=1e-12)


def doubled_mps():
    """A 5-site MPS (p = 2, D = 3) with every inner bond doubled by a copy:
    the same state, bonds 6 of rank <= 3, so exactly null singular values."""
    mps = random_mps(5, 2, 3, seed=1)
    doubled = []
    for j, M in enumerate(mps):
        left = torch.cat([M, M], 0) if j > 0 else M
        doubled.append(torch.cat([left, left], 2) if j < 4 else left)
    return mps, [M / (2 if 0 < j else 1) for j, M in enumerate(doubled)]


@pytest.mark.parametrize("cutoff, bonds", [(0.0, [2, 4, 4, 2, 1]), (1e-12, [2, 3, 3, 2, 1])])
def test_compress_bonds_do_not_depend_on_how_null_values_are_rounded(monkeypatch, cutoff, bonds):
    # Regression: cutoff = 0 kept only values > 0, so null singular values
    # kept as ~1e-17 on one CPU were dropped as exact zeros on another (this
    # AMD EPYC returns some of this MPS's null values as 0.0).  Emulate both:
    # values below 1e-14 of the largest (measured: null ones <= 1e-16, kept
    # ones >= 5.7e-3) are set to exactly 0 or to 1e-17.
    mps, doubled = doubled_mps()
    real = torch.linalg.svd

    def svd_with_null_values_as(null):
        def fake(A, *args, **kwargs):
            U, S, Vh = real(A, *args, **kwargs)
            return U, torch.where(S < 1e-14 * S.max(), null * S.max(), S), Vh

        return fake

    for null in (0.0, 1e-17):
        monkeypatch.setattr(torch.linalg, "svd", svd_with_null_values_as(null))
        out, log_norm, discarded = compress(doubled, BoundaryMPSOptions(chi=10, cutoff=cutoff))
        monkeypatch.undo()
        assert [M.shape[2] for M in out] == bonds, null
        assert discarded < 1e-24
        # The same state either way: measured 5.2e-14 (cutoff 0) and 2.6e-14
        # on entries up to ~10.
        error = float((math.exp(log_norm) * mps_vector(out) - mps_vector(mps)).abs().max())
        assert error < 5e-13, null


def test_compress_truncates_optimally_at_one_bond():
    # Two sites: the state is a p x p matrix; chi = 1 keeps its best rank-1
    # approximation (Eckart-Young), with discarded weight sum_{k>1} s_k^2 / sum s_k^2.
    gen = torch.Generator().manual_seed(2)
    X = torch.randn(4, 4, generator=gen, dtype=DT)
    U, S, Vh = torch.linalg.svd(X)
    mps = [X.reshape(1, 4, 4), torch.eye(4, dtype=DT).reshape(4, 4, 1)]
    out, log_norm, discarded = compress(mps, BoundaryMPSOptions(chi=1))
    best = S[0] * torch.outer(U[:, 0], Vh[0])
    torch.testing.assert_close(math.exp(log_norm) * mps_vector(out), best.reshape(-1), rtol=1e-12, atol=1e-12)
    assert discarded == pytest.approx(float(S[1:].square().sum() / S.square().sum()), rel=1e-12)


@pytest.mark.parametrize(
    "kwargs, field", [({"chi": 0}, "chi"), ({"cutoff": 1.0}, "cutoff"), ({"cutoff": -1e-3}, "cutoff"), ({"eps": 0.0}, "eps")]
)
def test_bad_options_are_rejected(kwargs, field):
    with pytest.raises(ValueError, match=field):
        BoundaryMPSOptions(**kwargs)


def test_malformed_networks_are_rejected():
    grid = random_grid(2, 2, 2, seed=0)
    with pytest.raises(ValueError, match="u = 1"):
        boundary_mps_lnz([[torch.ones(2, 1, 2, 2, dtype=DT), grid[0][1]], grid[1]])
    with pytest.raises(ValueError, match="differ"):
        boundary_mps_lnz([[grid[0][0], torch.ones(1, 3, 2, 1, dtype=DT)], grid[1]])
    with pytest.raises(ValueError, match="row 1"):
        boundary_mps_lnz([grid[0], grid[1][:1]])


def test_vanishing_or_negative_z_raises():
    plus = torch.tensor([1.0, 1.0], dtype=DT).reshape(1, 1, 1, 2)
    minus = torch.tensor([1.0, -1.0], dtype=DT).reshape(1, 2, 1, 1)
    with pytest.raises(FloatingPointError, match="Z"):
        boundary_mps_lnz([[plus, minus]])  # Z = 1 - 1 = 0
    with pytest.raises(FloatingPointError, match="Z"):
        boundary_mps_lnz([[plus, -minus.abs()]])  # Z = -2


def _two_by_two(M, Phi):
    """2x2 network with Z = sum M * Phi: row 0 is the MPS of M (Schmidt values = those of M), row 1 closes it with Phi."""
    eye = torch.eye(2, dtype=DT)
    return [
        [M.reshape(1, 1, 2, 2), eye.reshape(1, 2, 2, 1)],  # A00[d0, b] = M, A01[b, d1] = delta
        [Phi.reshape(2, 1, 1, 2), eye.reshape(2, 2, 1, 1)],  # A10[d0, c] = Phi, A11[d1, c] = delta
    ]


@pytest.mark.parametrize(
    "phi, chi, cause",
    [
        # Z = 1 exactly; chi = 1 keeps M's Schmidt value 2 of (2, 1) and gives -2: a truncation
        ((-1.0, 3.0), 1, "truncation \\(largest discarded weight 2.0e-01\\); increase chi"),
        # Z = -3 exactly and nothing truncated: more chi cannot help
        ((-1.0, -1.0), 2, "nothing was truncated"),
    ],
)
def test_a_negative_z_names_its_cause(phi, chi, cause):
    grid = _two_by_two(torch.diag(torch.tensor([2.0, 1.0], dtype=DT)), torch.diag(torch.tensor(phi, dtype=DT)))
    if chi == 1:
        assert float(boundary_mps_lnz(grid, BoundaryMPSOptions(chi=2))[0]) == pytest.approx(0.0, abs=1e-14)
    with pytest.raises(FloatingPointError, match=cause):
        boundary_mps_lnz(grid, BoundaryMPSOptions(chi=chi))
