"""difftn.methods.born.sample: histograms of exact and conditional samples against
p(x) by enumeration (chi-square tests with fixed seeds)."""

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from difftn.methods.born import MPS, canonicalize, conditional_sample, log_prob, random_mps, sample

N_SAMPLES = 40_000
# With fixed seeds the p-values are fixed numbers; 1e-3 rejects a wrong
# distribution (the controls below reach < 1e-30) and a correct one only by
# a 1-in-1000 accident of the chosen seed.
P_MIN = 1e-3


def configs(n):
    return torch.tensor(list(itertools.product((0, 1), repeat=n)), dtype=torch.long)


def codes(x):
    """Integer code of each binary row (site 0 most significant), as in ``configs``."""
    x = np.asarray(x)
    return x @ (1 << np.arange(x.shape[1])[::-1])


@pytest.fixture
def small():
    """A random signed MPS on 6 sites, bonds up to 3, not canonical."""
    mps = random_mps(6, 3, seed=7, positive=False)
    return MPS([2.0 * A for A in mps.tensors])


def test_sampler_histogram_matches_p(small):
    p = log_prob(small.tensors, configs(6)).exp().numpy()
    x = sample(small, N_SAMPLES, seed=11)
    counts = np.bincount(codes(x), minlength=64)
    assert counts.sum() == N_SAMPLES
    assert chisquare(counts, N_SAMPLES * p).pvalue > P_MIN
    # Control: the same counts against the uniform distribution are rejected.
    assert chisquare(counts, np.full(64, N_SAMPLES / 64)).pvalue < 1e-30


def test_sampler_is_reproducible_and_independent_of_the_center(small):
    a = sample(canonicalize(small, 0), 500, seed=3)
    b = sample(canonicalize(small, 4), 500, seed=3)  # recanonicalized internally
    assert torch.equal(a, b)
    assert not torch.equal(a, sample(small, 500, seed=4))


def test_conditional_sampler_matches_the_exact_conditional(small):
    # Fix site 1 = 1 and site 4 = 0; the other four sites are drawn.
    x_all = configs(6)
    p = log_prob(small.tensors, x_all).exp().numpy()
    given = (x_all[:, 1] == 1) & (x_all[:, 4] == 0)
    p_cond = p * given.numpy()
    p_cond /= p_cond.sum()
    fixed = torch.zeros(N_SAMPLES, 6, dtype=torch.bool)
    fixed[:, [1, 4]] = True
    x = torch.randint(0, 2, (N_SAMPLES, 6), generator=torch.Generator().manual_seed(0))
    x[:, 1], x[:, 4] = 1, 0
    out = conditional_sample(small, x, fixed, seed=5)
    assert torch.equal(out[:, [1, 4]], x[:, [1, 4]])
    counts = np.bincount(codes(out), minlength=64)
    support = p_cond > 0
    assert counts[~support].sum() == 0
    assert chisquare(counts[support], N_SAMPLES * p_cond[support]).pvalue > P_MIN
    # Control: the unconditional p restricted to the same support is a different distribution.
    p_wrong = np.where(support, 1.0, 0.0) / support.sum()
    assert chisquare(counts[support], N_SAMPLES * p_wrong[support]).pvalue < 1e-30


def test_conditional_sampler_with_nothing_fixed_is_the_sampler(small):
    x = torch.zeros(N_SAMPLES, 6, dtype=torch.long)
    out = conditional_sample(small, x, torch.zeros_like(x, dtype=torch.bool), seed=2)
    p = log_prob(small.tensors, configs(6)).exp().numpy()
    assert chisquare(np.bincount(codes(out), minlength=64), N_SAMPLES * p).pvalue > P_MIN


def test_conditional_sampler_with_everything_fixed_returns_the_input(small):
    x = configs(6)[::5]
    assert torch.equal(conditional_sample(small, x, torch.ones_like(x, dtype=torch.bool)), x)


def test_zero_probability_evidence_is_rejected():
    # Site 0 has p(x_0 = 1) = 0, sites 1..3 a random MPS.
    first = torch.tensor([1.0, 0.0], dtype=torch.float64).reshape(1, 2, 1)
    mps = MPS([first, *random_mps(3, 2, seed=0).tensors])
    fixed = torch.tensor([[True, False, False, False]])
    with pytest.raises(ValueError, match="probability zero"):
        conditional_sample(mps, torch.tensor([[1, 0, 0, 0]]), fixed)
    assert (sample(mps, 200)[:, 0] == 0).all()
