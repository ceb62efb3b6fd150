"""Tests of difftn.models.ising: Onsager's exact solution against known values,
series expansions and finite differences; the bulk tensor against exact
enumeration of small periodic lattices."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from difftn.methods.thermodynamics import trg_observables
from difftn.models import ising
from difftn.models.ising import (
    BETA_C,
    exact_energy,
    exact_lnz,
    exact_magnetization,
    exact_specific_heat,
    ising_tensor,
)

DT = torch.float64
CATALAN = 0.915965594177219015054603514932384110774
# Both sides of the transition, away from its immediate vicinity.
BETAS = [0.3, 0.4, 0.47, 0.6]


# --------------------------------------------------------------------------
# Exact solution: known values


def test_beta_c():
    assert BETA_C == pytest.approx(0.5 * math.log(1 + math.sqrt(2)), abs=1e-16)
    assert math.sinh(2 * BETA_C) == pytest.approx(1.0, abs=1e-15)  # self-dual point


def test_lnz_at_beta_c_is_onsager_closed_form():
    # ln Z/N at beta_c = ln(2)/2 + 2G/pi (G: Catalan's constant) = 0.9296953983...
    expected = 0.5 * math.log(2) + 2 * CATALAN / math.pi
    assert expected == pytest.approx(0.9296953983, abs=1e-10)
    assert abs(exact_lnz(BETA_C) - expected) < 2e-15  # measured 2.2e-16


def test_energy_at_beta_c_is_minus_sqrt2():
    # Measured deviation 8e-15 on one machine, 0 on another (the K(k) log
    # singularity is cancelled exactly).
    assert abs(exact_energy(BETA_C) + math.sqrt(2)) < 1e-13


@pytest.mark.parametrize("beta", [0.05, 0.1])
def test_high_temperature_series(beta):
    # ln Z/N = ln 2 + 2 ln cosh b + t^4 + 2 t^6 + 9/2 t^8 + 12 t^10 + ...,  t = tanh b
    # (closed polygons on the square lattice).  Tolerance: twice the first
    # omitted term.
    t = math.tanh(beta)
    series = math.log(2) + 2 * math.log(math.cosh(beta)) + t**4 + 2 * t**6 + 4.5 * t**8
    assert abs(exact_lnz(beta) - series) < 2 * 12 * t**10
    # E = -d/db: dt/db = 1 - t^2.
    series_e = -(2 * t + (4 * t**3 + 12 * t**5 + 36 * t**7) * (1 - t**2))
    assert abs(exact_energy(beta) - series_e) < 2 * 120 * t**9


@pytest.mark.parametrize("beta", [1.0, 1.5])
def test_low_temperature_series(beta):
    # Kramers-Wannier duality: ln Z/N = 2b + x^4 + 2x^6 + 9/2 x^8 + 12 x^10 + ...,
    # x = exp(-2b) (flipped-spin clusters).  Tolerance: twice the first omitted
    # term of each series (d/db x^n = -2n x^n).
    x = math.exp(-2 * beta)
    lnz = 2 * beta + x**4 + 2 * x**6 + 4.5 * x**8
    assert abs(exact_lnz(beta) - lnz) < 2 * 12 * x**10
    energy = -2 + 8 * x**4 + 24 * x**6 + 72 * x**8
    assert abs(exact_energy(beta) - energy) < 2 * 240 * x**10
    heat = beta**2 * (64 * x**4 + 288 * x**6 + 1152 * x**8)
    assert abs(exact_specific_heat(beta) - heat) < 2 * beta**2 * 4800 * x**10


# --------------------------------------------------------------------------
# Exact solution: thermodynamic consistency by finite differences


@pytest.mark.parametrize("beta", BETAS)
def test_energy_is_minus_derivative_of_lnz(beta):
    # Central difference, h = 1e-5: O(h^2) error measured <= 1.6e-9 at these
    # beta (rounding of the quadrature, ~1e-14/h, is below that).
    h = 1e-5
    fd = -(exact_lnz(beta + h) - exact_lnz(beta - h)) / (2 * h)
    assert abs(exact_energy(beta) - fd) < 1e-8


@pytest.mark.parametrize("beta", BETAS)
def test_specific_heat_is_beta2_second_derivative_of_lnz(beta):
    # Second difference, h = 1e-4: error h^2/12 f'''' measured <= 6.2e-7 (at
    # beta = 0.47, nearest to beta_c); rounding ~1e-14/h^2 = 1e-6 at worst.
    h = 1e-4
    second = (exact_lnz(beta + h) - 2 * exact_lnz(beta) + exact_lnz(beta - h)) / h**2
    assert abs(exact_specific_heat(beta) - beta**2 * second) < 2e-6
    # Tighter: C = -b^2 dE/db from the closed-form energy, h = 1e-5; measured
    # error <= 1.3e-8.
    h = 1e-5
    fd = -(beta**2) * (exact_energy(beta + h) - exact_energy(beta - h)) / (2 * h)
    assert abs(exact_specific_heat(beta) - fd) < 5e-8


@pytest.mark.parametrize("side", [+1, -1])
def test_specific_heat_log_divergence_amplitude(side):
    # C ~ -(8 b_c^2 / pi) ln|b - b_c| + const on both sides of b_c; the
    # difference between two distances cancels the constant.  Corrections are
    # O(delta ln delta): measured deviation 2e-7 at delta = 1e-8, 1e-7.
    amplitude = 8 * BETA_C**2 / math.pi
    c1 = exact_specific_heat(BETA_C + side * 1e-8)
    c2 = exact_specific_heat(BETA_C + side * 1e-7)
    assert abs((c1 - c2) - amplitude * math.log(10)) < 1e-6


def test_vectorised_over_beta():
    betas = np.array([0.3, 0.5, 0.7])
    for fn in (exact_lnz, exact_energy, exact_specific_heat, exact_magnetization):
        values = fn(betas)
        assert values.shape == (3,)
        assert np.allclose(values, [fn(b) for b in betas], rtol=0, atol=1e-15)


@pytest.mark.parametrize("fn", [exact_lnz, exact_energy, exact_specific_heat, exact_magnetization])
def test_nonpositive_beta_is_rejected(fn):
    for bad in (0.0, -0.3, float("nan")):
        with pytest.raises(ValueError, match="beta must be finite and > 0"):
            fn(bad)


# --------------------------------------------------------------------------
# Spontaneous magnetization


@pytest.mark.parametrize("beta", [0.1, 0.3, 0.44, BETA_C])
def test_magnetization_vanishes_above_tc(beta):
    assert exact_magnetization(beta) == 0.0


@pytest.mark.parametrize("beta", [0.45, 0.5, 0.7, 1.0, 3.0])
def test_magnetization_below_tc(beta):
    # Yang's result in the tanh form: M = [1 - (1 - t^2)^4 / (16 t^4)]^(1/8).
    t = math.tanh(beta)
    expected = (1 - (1 - t * t) ** 4 / (16 * t**4)) ** 0.125
    assert abs(exact_magnetization(beta) - expected) < 7e-15  # measured <= 6.7e-16
    assert 0 < exact_magnetization(beta) < 1


def test_magnetization_critical_exponent_one_eighth():
    # M ~ (b - b_c)^(1/8): the ratio over a factor 100 in distance is 100^(1/8)
    # up to O(delta) corrections (measured 8e-7 relative at delta = 1e-6, 1e-8).
    ratio = exact_magnetization(BETA_C + 1e-6) / exact_magnetization(BETA_C + 1e-8)
    assert ratio == pytest.approx(100**0.125, rel=1e-5)


# --------------------------------------------------------------------------
# Bulk tensor


def test_tensor_entries():
    # Independent evaluation: T = sum_s prod_legs W[s, .] with
    # W[s, 0] = sqrt(cosh b), W[s, 1] = s sqrt(sinh b), s = +-1.
    beta = 0.37
    T = ising_tensor(torch.tensor(beta, dtype=DT))
    assert T.shape == (2, 2, 2, 2) and T.dtype == DT
    ch, sh = math.cosh(beta), math.sinh(beta)
    for idx in itertools.product(range(2), repeat=4):
        n1 = sum(idx)
        expected = sum(ch ** ((4 - n1) / 2) * (s * math.sqrt(sh)) ** n1 for s in (1, -1))
        assert abs(float(T[idx]) - expected) < 1e-14, idx


@pytest.mark.parametrize("beta", [0.2, BETA_C, 0.9])
def test_tensor_z2_and_permutation_symmetry(beta):
    T = ising_tensor(torch.tensor(beta, dtype=DT))
    scale = float(T.abs().max())
    for idx in itertools.product(range(2), repeat=4):
        if sum(idx) % 2:
            assert abs(float(T[idx])) <= 1e-15 * scale, idx
        else:
            assert float(T[idx]) > 0, idx
    for perm in itertools.permutations(range(4)):
        assert torch.allclose(T.permute(*perm), T, atol=1e-15 * scale, rtol=0), perm


def torus_contraction(T, Lx, Ly):
    """Z of T placed on every site of an Lx x Ly periodic lattice.

    Leg u of site (x, y) is the d leg of (x, y+1); leg r is the l leg of (x+1, y).
    """
    site = lambda x, y: (x % Lx) * Ly + (y % Ly)
    h_bond = lambda x, y: 2 * site(x, y)  # bond (x, y) -- (x+1, y)
    v_bond = lambda x, y: 2 * site(x, y) + 1  # bond (x, y) -- (x, y+1)
    operands = []
    for x in range(Lx):
        for y in range(Ly):
            legs = [v_bond(x, y), h_bond(x - 1, y), v_bond(x, y - 1), h_bond(x, y)]
            operands += [T, legs]
    return torch.einsum(*operands, [])


def enumerate_z(beta, Lx, Ly):
    """Brute-force Z = sum_spins exp(beta sum_bonds s_i s_j), periodic Lx x Ly."""
    n = Lx * Ly
    spins = np.array(list(itertools.product((1, -1), repeat=n)), dtype=float).reshape(-1, Lx, Ly)
    bonds = (spins * np.roll(spins, 1, axis=1)).sum((1, 2)) + (spins * np.roll(spins, 1, axis=2)).sum((1, 2))
    return float(np.exp(beta * bonds).sum())


@pytest.mark.parametrize("L", [(1, 1), (2, 2), (3, 3), (2, 3), (1, 4)])
@pytest.mark.parametrize("beta", [0.3, BETA_C, 0.7])
def test_tensor_network_equals_enumeration_on_torus(L, beta):
    Lx, Ly = L
    z_tn = float(torus_contraction(ising_tensor(torch.tensor(beta, dtype=DT)), Lx, Ly))
    z_exact = enumerate_z(beta, Lx, Ly)
    # Both are sums of <= 2^18 positive terms in float64: measured <= 3.3e-15 relative.
    assert z_tn == pytest.approx(z_exact, rel=3e-14)


def test_tensor_is_twice_differentiable_in_beta():
    beta = torch.tensor(0.41, dtype=DT, requires_grad=True)
    assert gradcheck(ising_tensor, (beta,), atol=1e-8, rtol=1e-7)
    assert gradgradcheck(ising_tensor, (beta,), atol=1e-8, rtol=1e-7)


# --------------------------------------------------------------------------
# TRG observables against Onsager (the TRG method itself is tested in
# tests/test_trg.py; here the dict interface of trg_observables).


def test_trg_observables_interface():
    r = trg_observables(0.4, chi=6, steps=12)
    assert set(r) >= {"lnz", "energy", "specific_heat", "truncation_error"}
    assert all(isinstance(v, float) and math.isfinite(v) for v in r.values())
    assert 0 < r["truncation_error"] < 1e-2
    # chi = 6, 12 steps at beta = 0.4: measured errors 6.1e-5 (lnZ), 1.04e-3
    # (E), 2.7e-3 (C); tolerances ~3x those.
    assert abs(r["lnz"] - exact_lnz(0.4)) < 2e-4
    assert abs(r["energy"] - exact_energy(0.4)) < 3e-3
    assert abs(r["specific_heat"] - exact_specific_heat(0.4)) < 1e-2
    with pytest.raises(ValueError, match="beta must be finite and > 0"):
        trg_observables(-0.4, chi=6, steps=12)
