"""difftn.methods.ppeps.model: p(x) and Z against a dense contraction of every pixel
configuration, convergence in chi, the batched boundary MPS against one
network at a time, and the NLL gradient against finite differences."""

import itertools
import string

import numpy as np
import pytest
import torch

from difftn.contract.boundary_mps import BoundaryMPSOptions, boundary_mps_lnz
from difftn.methods.ppeps.model import (
    exact_chi,
    from_flat,
    log_marginal,
    log_partition,
    log_peps,
    log_prob,
    nll,
    random_ppeps,
    to_flat,
)

DT = torch.float64


def all_configs(n):
    return torch.tensor(list(itertools.product((0, 1), repeat=n)), dtype=torch.long)


def dense_table(model):
    """PEPS(x) for every x, shape (2,) * n, by one numpy einsum of the whole
    network (every bond a letter, every pixel an open index): an oracle that
    shares nothing with the boundary MPS."""
    letters = iter(string.ascii_letters)
    R, C = model.rows, model.cols
    h = {(i, j): next(letters) for i in range(R) for j in range(C - 1)}  # bond (i,j)-(i,j+1)
    v = {(i, j): next(letters) for i in range(R - 1) for j in range(C)}  # bond (i,j)-(i+1,j)
    one = next(letters)  # boundary legs of dimension 1
    pix = [next(letters) for _ in range(R * C)]
    terms, ops = [], []
    for i in range(R):
        for j in range(C):
            u = v[i - 1, j] if i > 0 else one
            l = h[i, j - 1] if j > 0 else one
            d = v[i, j] if i < R - 1 else one
            r = h[i, j] if j < C - 1 else one
            terms.append(pix[i * C + j] + u + l + d + r)
            ops.append(np.exp(model.params[i][j].detach().numpy()))
    return np.einsum(",".join(terms) + "->" + "".join(pix), *ops, optimize="greedy")


@pytest.mark.parametrize("rows,cols,D", [(3, 3, 2), (3, 3, 3), (4, 4, 2), (3, 4, 2)])
def test_z_and_probabilities_match_dense_enumeration(rows, cols, D):
    model = random_ppeps(rows, cols, D, seed=rows + cols + D, scale=1.0)
    table = dense_table(model).reshape(-1)  # raster order = itertools.product order
    x = all_configs(rows * cols)
    lnz = log_partition(model)
    assert abs(float(lnz) - np.log(table.sum())) < 1e-12 * abs(np.log(table.sum()))  # measured <= 3e-16
    logp = log_prob(model, x)
    exact = np.log(table / table.sum())
    rel = np.max(np.abs(np.exp(logp.numpy()) - np.exp(exact)) / np.exp(exact))
    assert rel < 1e-12  # measured <= 2e-14


def test_truncated_chi_converges_to_exact():
    # 6 x 6 at D = 3: exact chi is 27; chi = 1 .. 8 truncate.
    model = random_ppeps(6, 6, 3, seed=4, scale=1.0)
    x = torch.randint(0, 2, (16, 36), generator=torch.Generator().manual_seed(1))
    exact_z, exact_x = log_partition(model), log_peps(model, x)
    errors_z, errors_x = [], []
    for chi in (1, 2, 4, 8):
        opts = BoundaryMPSOptions(chi=chi)
        errors_z.append(abs(float(log_partition(model, opts) - exact_z)))
        errors_x.append(float((log_peps(model, x, opts) - exact_x).abs().max()))
    # measured z: 8.6e-4, 7.7e-4, 2.5e-6, 9.6e-9; x: 1.5e-1, 7.0e-3, 1.9e-4, 1.3e-6
    assert all(a > b for a, b in zip(errors_z, errors_z[1:])), errors_z
    assert all(a > b for a, b in zip(errors_x, errors_x[1:])), errors_x
    assert errors_z[-1] < 1e-3 * errors_z[0] and errors_x[-1] < 1e-2 * errors_x[0]


def test_batched_contraction_equals_one_network_at_a_time():
    model = random_ppeps(4, 5, 2, seed=3, scale=1.0)
    x = torch.randint(0, 2, (6, 20), generator=torch.Generator().manual_seed(2))
    opts = BoundaryMPSOptions(chi=2)  # truncating: the shared bond dimensions matter
    batched = log_peps(model, x, opts)
    P = model.tensors()
    for b in range(6):
        grid = [[P[i][j][int(x[b, i * 5 + j])] for j in range(5)] for i in range(4)]
        single, _ = boundary_mps_lnz(grid, opts)
        assert abs(float(batched[b] - single)) < 1e-12  # measured 0 (same operations)


def test_marginal_sums_the_free_pixels():
    model = random_ppeps(3, 3, 2, seed=5, scale=1.0)
    table = dense_table(model)
    x = torch.full((1, 9), -1)
    x[0, 0], x[0, 4] = 1, 0
    exact = np.log(table[1, :, :, :, 0].sum())
    assert abs(float(log_marginal(model, x)[0]) - exact) < 1e-12 * abs(exact)  # measured ~1e-16


def test_nll_gradient_matches_finite_differences():
    model = random_ppeps(3, 3, 2, seed=6, scale=0.5)
    x = torch.randint(0, 2, (5, 9), generator=torch.Generator().manual_seed(3))
    for t in model.parameters():
        t.requires_grad_()
    loss = nll(model, x)
    grads = torch.autograd.grad(loss, model.parameters())
    h = 1e-6
    worst = 0.0
    for t, g in zip(model.parameters(), grads):
        for idx in [(0,) * t.dim(), tuple(s - 1 for s in t.shape)]:
            with torch.no_grad():
                t[idx] += h
                up = float(nll(model, x))
                t[idx] -= 2 * h
                down = float(nll(model, x))
                t[idx] += h
            worst = max(worst, abs((up - down) / (2 * h) - float(g[idx])))
    assert worst < 1e-8  # measured 1.4e-9 (central difference, h = 1e-6)


def test_flat_round_trip_and_validation():
    model = random_ppeps(3, 4, 2, seed=7)
    back = from_flat(3, 4, 2, to_flat(model))
    assert torch.equal(to_flat(back), to_flat(model)) and exact_chi(model) == 4
    assert model.num_parameters() == to_flat(model).numel()
    with pytest.raises(ValueError, match="parameters given"):
        from_flat(3, 4, 2, to_flat(model)[1:])
    with pytest.raises(ValueError, match="must be 0 or 1"):
        log_peps(model, torch.full((1, 12), 2))
    with pytest.raises(ValueError, match="shape"):
        log_peps(model, torch.zeros(1, 11, dtype=torch.long))
