"""difftn.methods.born.train: the two-site gradient against autograd of the full NLL,
monotone sweeps, adaptive bond dimensions, and learning targets with known
optima (bars and stripes: ln(#patterns); D = 1: the independent-pixel model)."""

import math

import numpy as np
import pytest
import torch

from difftn.methods.born import (
    GradientOptions,
    MPS,
    SweepOptions,
    canonicalize,
    independent_pixel_nll,
    local_nll,
    log_partition,
    nll,
    random_mps,
    sample,
    train_gradient,
    train_sweeps,
    two_site_gradient,
)
from difftn.data.datasets import bars_and_stripes, is_bars_and_stripes

DT = torch.float64


def merged_as_two_sites(tensors, k, B):
    """The MPS with sites k, k+1 replaced by B reshaped to (Dl, d, d Dr) and a (d Dr, d, Dr) copy tensor.

    Their product is exactly B, so ``nll`` of the result is the full NLL as a
    differentiable function of B, with Z from the full contraction (no
    canonical-form assumption).
    """
    Dl, d, _, Dr = B.shape
    copy = torch.zeros(d * Dr, d, Dr, dtype=B.dtype)
    for t in range(d):
        copy[t * Dr : (t + 1) * Dr, t, :] = torch.eye(Dr, dtype=B.dtype)
    return tensors[:k] + [B.reshape(Dl, d, d * Dr), copy] + tensors[k + 2 :]


def environments(tensors, x, k):
    """Unnormalized per-sample left (sites < k) and right (sites > k+1) products, scaled at random."""
    N = x.shape[0]
    left = torch.ones(N, 1, dtype=DT)
    for j in range(k):
        left = torch.einsum("na,nab->nb", left, tensors[j].permute(1, 0, 2)[x[:, j]])
    right = torch.ones(N, 1, dtype=DT)
    for j in range(len(tensors) - 1, k + 1, -1):
        right = torch.einsum("nab,nb->na", tensors[j].permute(1, 0, 2)[x[:, j]], right)
    scale = torch.rand(N, 1, dtype=DT, generator=torch.Generator().manual_seed(k)) + 0.5
    return left * scale, right / scale**2  # any positive per-sample scale must drop out


@pytest.mark.parametrize("k", [0, 2, 5])
def test_two_site_gradient_is_the_gradient_of_the_full_nll(k):
    n = 7
    mps = canonicalize(random_mps(n, 4, seed=1, positive=False), k)
    A = mps.tensors
    x = torch.randint(0, 2, (40, n), generator=torch.Generator().manual_seed(2))
    B = torch.einsum("asb,btc->astc", A[k], A[k + 1])
    B = B + 0.1 * torch.randn(B.shape, dtype=DT, generator=torch.Generator().manual_seed(3))  # off the norm 1
    left, right = environments(A, x, k)
    formula = two_site_gradient(B, left, right, x[:, k], x[:, k + 1])
    Bvar = B.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(nll(merged_as_two_sites(A, k, Bvar), x), Bvar)
    assert torch.allclose(formula, auto, rtol=1e-10, atol=1e-12 * float(auto.abs().max()))
    # local_nll is the full NLL up to a B-independent constant.
    other = B + 0.05 * torch.randn(B.shape, dtype=DT, generator=torch.Generator().manual_seed(4))
    full = [float(nll(merged_as_two_sites(A, k, b), x)) for b in (B, other)]
    local = [float(local_nll(b, left, right, x[:, k], x[:, k + 1])) for b in (B, other)]
    assert full[1] - full[0] == pytest.approx(local[1] - local[0], abs=1e-12)
    assert abs(full[1] - full[0]) > 1e-3


def test_sweeps_decrease_the_nll_monotonically_and_respect_max_bond():
    rng = np.random.default_rng(0)
    data = (rng.random((60, 10)) < np.linspace(0.2, 0.8, 10)).astype(np.uint8)
    data[:, 5] = data[:, 2]  # correlations for the bonds to learn
    mps, info = train_sweeps(random_mps(10, 2, seed=0), data, SweepOptions(max_bond=3, sweeps=5, learning_rate=0.3))
    assert np.all(np.diff(info.nll_train) <= 1e-12)
    assert info.nll_train[-1] < info.nll_train[0] - 1.0
    assert max(mps.bond_dimensions) == 3 and info.max_bond[-1] == 3
    assert mps.center == 0 and float(log_partition(mps.tensors)) == pytest.approx(0.0, abs=1e-12)
    assert len(info.nll_train) == 6 and len(info.nll_test) == 0


def test_max_bond_one_converges_to_the_independent_pixel_model():
    # D = 1 is a product state; its maximum-likelihood fit is the per-pixel frequency.
    rng = np.random.default_rng(1)
    data = (rng.random((200, 8)) < np.linspace(0.1, 0.9, 8)).astype(np.uint8)
    test = (rng.random((50, 8)) < 0.5).astype(np.uint8)
    _, info = train_sweeps(
        random_mps(8, 1, seed=0), data, SweepOptions(max_bond=1, sweeps=10, learning_rate=0.2), test_data=test
    )
    assert info.nll_train[-1] == pytest.approx(independent_pixel_nll(data, alpha=0.0), abs=1e-8)
    assert info.nll_test[-1] == pytest.approx(independent_pixel_nll(data, test, alpha=0.0), abs=1e-6)


def full_amplitudes(tensors):
    """All 2^n amplitudes of an open MPS, raster order (first site = most significant bit)."""
    psi = tensors[0]
    for A in tensors[1:]:
        psi = torch.einsum("...a,asb->...sb", psi, A)
    return psi.reshape(-1)


def exact_schmidt_ranks(data):
    """[1, r_1, ..., r_{n-1}, 1]: Schmidt ranks across every cut of the state
    sqrt(p) of the uniform distribution over the distinct patterns ``data``,
    by enumeration (matrix ranks of the 0/1 pattern indicator, reshaped)."""
    n = data.shape[1]
    indicator = np.zeros(2**n)
    indicator[(data * (2 ** np.arange(n)[::-1])).sum(1)] = 1.0
    ranks = []
    for k in range(1, n):
        s = np.linalg.svd(indicator.reshape(2**k, -1), compute_uv=False)
        # An integer matrix: its nonzero singular values are O(1), the zero
        # ones come out <= 1e-15; nothing near the threshold.
        assert np.all((s < 1e-12 * s[0]) | (s > 1e-2 * s[0]))
        ranks.append(int((s > 1e-12 * s[0]).sum()))
    return [1] + ranks + [1]


def test_exact_schmidt_ranks_of_bars_and_stripes():
    # Hand check for 3x3 (raster order), cut after the first row: each of the 6
    # non-constant first rows (bars) meets one rest of its own; the first rows
    # 000 and 111 both meet the same 4 rests (the stripes' two other rows, the
    # constant bar included): rank 6 + 1 = 7.  Cut after k < 3 pixels: all 2^k
    # prefixes, independent.  Mirror symmetry gives the rest.
    assert exact_schmidt_ranks(bars_and_stripes(3, 3)) == [1, 2, 4, 7, 8, 8, 7, 4, 2, 1]


def test_bars_and_stripes_3x3_reaches_ln14_and_the_schmidt_ranks_of_the_data():
    data = bars_and_stripes(3, 3)
    assert len(data) == 14
    mps, info = train_sweeps(random_mps(9, 2, seed=0), data, SweepOptions(max_bond=32, sweeps=8, learning_rate=0.2))
    # Two-sided: no model goes below the entropy ln 14 of the data; measured
    # ln 14 to rounding (difference 0.0), tolerance 1e-12.
    assert info.nll_train[-1] >= math.log(14) - 1e-9
    assert info.nll_train[-1] == pytest.approx(math.log(14), abs=1e-12)
    # NLL = ln 14 means |psi|^2 is the data distribution, whose square-root
    # state has these Schmidt ranks; the cutoff (1e-7), not max_bond = 32,
    # must find exactly them.  (Measured spectra of the trained state: kept
    # Schmidt values >= 0.35 of the largest, dropped ones <= 1.5e-16.)
    assert mps.bond_dimensions == exact_schmidt_ranks(data)
    # And |psi|^2 is the data distribution, pattern by pattern (measured 1.5e-16).
    psi = full_amplitudes(mps.tensors)
    p = (psi**2 / (psi**2).sum()).numpy()
    on = (data * (2 ** np.arange(9)[::-1])).sum(1)
    assert np.abs(p[on] - 1 / 14).max() < 1.5e-15


def test_bars_and_stripes_4x4_targets():
    """Issue target: NLL within 0.01 of ln 30; of 10,000 zipper samples >= 99% valid, all 30 present."""
    data = bars_and_stripes(4, 4)
    mps, info = train_sweeps(random_mps(16, 2, seed=0), data, SweepOptions(max_bond=16, sweeps=6, learning_rate=0.2))
    # Two-sided: never below the entropy ln 30 of the data; the issue's
    # target is 0.01 above it, measured 7.9e-10 above it.
    assert info.nll_train[-1] >= math.log(30) - 1e-9
    assert info.nll_train[-1] - math.log(30) < 0.01
    assert info.nll_train[-1] - math.log(30) < 1e-8
    x = sample(mps, 10_000, seed=0).numpy()
    valid = is_bars_and_stripes(x, 4, 4)
    assert valid.mean() >= 0.99
    assert len(np.unique(x[valid], axis=0)) == 30


def test_small_max_bond_cannot_reach_the_floor():
    data = bars_and_stripes(4, 4)
    _, info = train_sweeps(random_mps(16, 2, seed=0), data, SweepOptions(max_bond=4, sweeps=4, learning_rate=0.2))
    # D = 4 cannot hold the 15 Schmidt values across the middle cut; measured ln 30 + 2.72.
    assert info.nll_train[-1] > math.log(30) + 0.5


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.05), ("lbfgs", 1.0)])
def test_plain_autograd_training_lowers_the_nll(optimizer, lr):
    data = bars_and_stripes(3, 3)
    mps, info = train_gradient(
        random_mps(9, 4, seed=0), data, GradientOptions(steps=60, learning_rate=lr, optimizer=optimizer)
    )
    assert info.nll_train[-1] < info.nll_train[0] - 2.0
    assert info.nll_train[-1] >= math.log(14) - 1e-9  # never below the entropy of the data
    assert float(nll(mps.tensors, torch.as_tensor(data).long())) == pytest.approx(info.nll_train[-1], abs=1e-10)
    assert mps.bond_dimensions == random_mps(9, 4, seed=0).bond_dimensions  # fixed bonds


@pytest.mark.parametrize(
    "kwargs, field",
    [({"max_bond": 0}, "max_bond"), ({"max_bond": 2, "sweeps": -1}, "sweeps"),
     ({"max_bond": 2, "learning_rate": 0.0}, "learning_rate"), ({"max_bond": 2, "cutoff": 1.0}, "cutoff"),
     ({"max_bond": 2, "steps_per_bond": 0}, "steps_per_bond"), ({"max_bond": 2, "max_halvings": -1}, "max_halvings")],
)  # fmt: skip
def test_sweep_options_are_checked(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SweepOptions(**kwargs)


def test_gradient_options_and_data_are_checked():
    with pytest.raises(ValueError, match="optimizer"):
        GradientOptions(optimizer="sgd")
    with pytest.raises(ValueError, match="at least 2 sites"):
        train_sweeps(MPS([torch.ones(1, 2, 1, dtype=DT)]), [[0]], SweepOptions(max_bond=2))
    with pytest.raises(ValueError, match="shape"):
        train_sweeps(random_mps(4, 2), np.zeros((3, 5), dtype=np.uint8), SweepOptions(max_bond=2))
