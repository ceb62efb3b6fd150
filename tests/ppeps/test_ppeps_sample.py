"""difftn.methods.ppeps.sample: exact samples against p(x) and inpaintings against
p(hidden | given) by chi-square tests on a 3 x 3 grid (exact enumeration)."""

import itertools

import pytest
import torch
from scipy.stats import chisquare

from difftn.methods.ppeps.model import log_prob, random_ppeps
from difftn.methods.ppeps.sample import conditional_sample, sample, snake_order

N = 20000


def all_configs(n):
    return torch.tensor(list(itertools.product((0, 1), repeat=n)), dtype=torch.long)


def codes(x):
    return (x * (2 ** torch.arange(x.shape[1] - 1, -1, -1))).sum(1)


def test_snake_order_visits_every_pixel_once():
    assert snake_order(2, 3) == [0, 1, 2, 5, 4, 3]
    assert sorted(snake_order(4, 5)) == list(range(20))


def test_samples_follow_p():
    model = random_ppeps(3, 3, 2, seed=11, scale=1.0)
    p = torch.exp(log_prob(model, all_configs(9)))
    x = sample(model, N, seed=1)
    counts = torch.bincount(codes(x), minlength=512).double()
    stat = chisquare(counts.numpy(), (N * p).numpy())
    assert stat.pvalue > 1e-3  # a correct sampler fails for 1 seed in 1000
    # A wrong p (uniform) is rejected by the same test: the test has power.
    assert chisquare(counts.numpy(), (N * torch.full_like(p, 1 / 512)).numpy()).pvalue < 1e-6


@pytest.mark.parametrize("given", [[0, 1, 2], [4, 8]])
def test_inpainting_follows_the_conditional(given):
    model = random_ppeps(3, 3, 2, seed=12, scale=1.0)
    configs = all_configs(9)
    p = torch.exp(log_prob(model, configs))
    known = torch.zeros(9, dtype=torch.bool)
    known[given] = True
    x0 = torch.zeros(N, 9, dtype=torch.long)
    x0[:, given] = 1
    x = conditional_sample(model, x0, known, seed=2)
    assert torch.equal(x[:, given], x0[:, given])  # given pixels untouched
    # p(hidden | given): the configurations with the given pixels at 1.
    match = (configs[:, given] == 1).all(1)
    cond = p[match] / p[match].sum()
    counts = torch.bincount(codes(x[:, ~known]), minlength=int(match.sum())).double()
    # configs[match] restricted to hidden pixels enumerate in the same (binary) order
    assert torch.equal(codes(configs[match][:, ~known]), torch.arange(int(match.sum())))
    assert chisquare(counts.numpy(), (N * cond).numpy()).pvalue > 1e-3
