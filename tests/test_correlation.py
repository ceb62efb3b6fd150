"""Correlation length from the CTMRG column transfer matrix (E-T-E).

Oracles: the exact 2D Ising correlation length on both sides of beta_c
(``ising.exact_correlation_length``: McCoy & Wu, Ch. XI) and the transfer
matrix eigenvalues listed with the published C4v iPEPS states (Hasik,
Poilblanc, Becca, SciPost Phys. 10, 012 (2021); the .dat columns l0..l5 are
|lambda_i| / |lambda_0|, the raw eigenvalues alternating in sign in the
sublattice-rotated frame).

What finite chi achieves: the transfer matrix of the infinite column has a
continuous band above lambda_1 (the one-particle band in the disordered phase,
the two-particle continuum in the ordered one); a chi-state environment
resolves it as discrete levels, so xi(chi) approaches the exact value from
below only algebraically (measured relative error 1.2e-2 at chi=32, beta=0.35).
Raw xi to 1e-6 is out of reach at any affordable chi; the level-spacing
extrapolation (Rams, Czarnik, Cincio 2018) reaches 2.5e-5 in the disordered phase.
The quasiparticle gap on the same boundary (``contract.quasiparticle``) is
exact to 1e-12 away from beta_c and to 2.5e-10 at beta_c - 0.02, chi = 16.
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from difftn.contract.ctmrg import (CTMRGOptions, correlation_length, ctmrg, extrapolated_correlation_length,
                                   transfer_matvec, transfer_spectrum)  # fmt: skip
from difftn.contract.quasiparticle import excitation_gaps, quasiparticle_correlation_length
from difftn.methods.ipeps import double_layer, identity_boundary, prepare
from difftn.models import ising
from difftn.studies.heisenberg import random_tensor, read_json_tensor

SHARED = Path(os.environ.get("DIFFTN_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
STATES = SHARED / "reference" / "ipeps_states"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _ising_spectra(beta, chis):
    """Transfer spectra of the Ising environment started from up boundary spins.

    Below T_c the up boundary selects the symmetry-broken (pure) phase, the
    physical state with an infinitesimal field: lambda_0 is then unique and
    lambda_1 is the two-particle threshold, so xi = -1/ln|lambda_1/lambda_0|
    is the decay of the connected correlation.  (A Z2-symmetric environment
    would make lambda_1 ~ lambda_0, the cat pair, and move the threshold to
    the next level.)
    """
    T = ising.ising_tensor(torch.tensor(beta, dtype=torch.float64))
    up = torch.tensor([math.sqrt(math.cosh(beta)), math.sqrt(math.sinh(beta))], dtype=torch.float64)
    spectra = []
    for chi in chis:
        _, E, info = ctmrg(T, CTMRGOptions(chi=chi, tol=1e-12, max_iter=3000), boundary=up)
        assert info.converged
        spectra.append(transfer_spectrum(E, T, k=4))
    return spectra


def test_exact_correlation_length_formula():
    # disordered: 1/xi = ln coth(beta) - 2 beta, the textbook form of 2 (K* - beta)
    beta = 0.3
    textbook = 1 / (math.log(1 / math.tanh(beta)) - 2 * beta)
    assert ising.exact_correlation_length(beta) == pytest.approx(textbook, rel=1e-14)
    # duality: xi(beta) in the ordered phase is half xi(beta*) in the disordered phase
    dual = math.atanh(math.exp(-2 * beta))
    assert ising.exact_correlation_length(dual) == pytest.approx(ising.exact_correlation_length(beta) / 2, rel=1e-13)
    with pytest.raises(ValueError, match="beta must be finite"):
        ising.exact_correlation_length(-1.0)
    # the dispersion's minimum: the one-particle gap below beta_c, half the two-kink threshold above it
    assert ising.exact_dispersion(beta, 0.0) == pytest.approx(1 / ising.exact_correlation_length(beta), rel=1e-14)
    assert ising.exact_dispersion(dual, 0.0) == pytest.approx(0.5 / ising.exact_correlation_length(dual), rel=1e-13)


@pytest.mark.parametrize(
    "beta, err16, err32",
    [
        # measured relative errors of xi: 2.1e-2 (chi 16), 1.2e-2 (chi 32)
        (0.35, 3e-2, 1.5e-2),
        # ordered phase: 6.7e-2 (chi 16), 4.0e-2 (chi 32)
        (0.50, 8e-2, 5e-2),
    ],
)
def test_ising_xi_converges_to_exact_from_below(beta, err16, err32):
    exact = ising.exact_correlation_length(beta)
    s16, _, s32 = _ising_spectra(beta, (16, 24, 32))
    rel16, rel32 = (correlation_length(s) / exact - 1 for s in (s16, s32))
    assert -err16 < rel16 < rel32 < 0  # from below, and closer at larger chi
    assert rel32 > -err32


def test_ising_xi_extrapolated_in_the_level_spacing():
    beta = 0.35
    xi = extrapolated_correlation_length(_ising_spectra(beta, (16, 24, 32)))
    # measured 2.5e-5 (chi 16, 24, 32); raw chi=32 is 1.2e-2 off
    assert xi == pytest.approx(ising.exact_correlation_length(beta), rel=2e-4)
    with pytest.raises(ValueError, match="spectra at >= 2 chi"):
        extrapolated_correlation_length([torch.ones(3)])


def _ising_environment(beta, chi):
    T = ising.ising_tensor(torch.tensor(beta, dtype=torch.float64))
    up = torch.tensor([math.sqrt(math.cosh(beta)), math.sqrt(math.sinh(beta))], dtype=torch.float64)
    _, E, info = ctmrg(T, CTMRGOptions(chi=chi, tol=1e-12, max_iter=3000), boundary=up)
    assert info.converged
    return E, T, (ising.SPIN_FLIP if beta > ising.BETA_C else None)


@pytest.mark.parametrize(
    "beta, tol",
    [
        # measured relative errors of xi at chi = 16 (ctm tol 1e-12)
        (0.30, 1e-12),  # 4e-15
        (0.35, 1e-12),  # 2e-14
        (ising.BETA_C - 0.02, 2.5e-9),  # 2.5e-10 (xi = 12.3)
        (ising.BETA_C + 0.02, 4e-11),  # 3.8e-12 (xi = 6.3; domain walls)
        (0.50, 1e-12),  # 6e-14
        (0.60, 1e-12),  # 1e-15
    ],
)
def test_ising_xi_from_the_quasiparticle_gap_is_exact_on_both_sides(beta, tol):
    E, T, flip = _ising_environment(beta, 16)
    xi = quasiparticle_correlation_length(E, T, flip=flip)
    assert xi == pytest.approx(ising.exact_correlation_length(beta), rel=tol)


def test_quasiparticle_gap_converges_exponentially_in_chi_and_follows_the_dispersion():
    beta = ising.BETA_C - 0.02
    exact = ising.exact_correlation_length(beta)
    errors = [abs(quasiparticle_correlation_length(*_ising_environment(beta, chi)[:2]) / exact - 1) for chi in (8, 16)]
    assert errors[0] > 1e-7 and errors[1] < 2.5e-9  # measured 1.0e-6 and 2.5e-10: the column transfer
    # matrix's xi is 15 % low at chi = 8 and still 1 % at chi = 32 (test above)
    # momentum pi: the top of the band, cosh eps = cosh 2K* cosh 2K + sinh 2K* sinh 2K (Onsager, Kaufman),
    # for the particles (beta < beta_c) and for the domain walls (beta > beta_c)
    for beta, tol in ((0.35, 1e-12), (0.50, 1e-12)):  # measured 1e-16 and 3e-15
        E, T, flip = _ising_environment(beta, 16)
        gaps = excitation_gaps(E, T, flip=flip, momentum=math.pi)
        assert gaps[0] == pytest.approx(ising.exact_dispersion(beta, math.pi), rel=tol)


def test_quasiparticle_gmres_path_equals_the_dense_one_and_inputs_are_checked(monkeypatch):
    import difftn.contract.quasiparticle as qp

    E, T, _ = _ising_environment(0.35, 8)
    dense = excitation_gaps(E, T, k=2)
    monkeypatch.setattr(qp, "DENSE_MAX", 0)
    assert excitation_gaps(E, T, k=2) == pytest.approx(dense, rel=1e-12)  # measured 3e-15
    with pytest.raises(ValueError, match="momentum must be 0 or pi"):
        excitation_gaps(E, T, momentum=1.0)
    with pytest.raises(ValueError, match="k must be an integer"):
        excitation_gaps(E, T, k=0)
    with pytest.raises(ValueError, match="flip must be 2 signs"):
        excitation_gaps(E, T, flip=(1.0, 0.5))
    with pytest.raises(ValueError, match="do not fit"):
        excitation_gaps(E, torch.ones(3, 3, 3, 3, dtype=torch.float64))


def test_transfer_spectrum_arnoldi_matches_dense_and_layers_match_double_layer(monkeypatch):
    import difftn.contract.ctmrg as ct

    A = prepare(random_tensor(2, seed=3))
    T = double_layer(A)
    _, E, info = ctmrg(T, CTMRGOptions(chi=6, tol=1e-12, max_iter=1000), boundary=identity_boundary(2))
    assert info.converged
    v = torch.randn(6 * 4 * 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    Tplain = T.clone()  # not registered: contracted as the double layer itself
    assert torch.allclose(transfer_matvec(E, T, v, A), transfer_matvec(E, Tplain, v), atol=1e-13)  # measured 4e-16
    dense = transfer_spectrum(E, Tplain, k=5)  # n = 144: dense
    monkeypatch.setattr(ct, "DENSE_TRANSFER_MAX", 0)
    arnoldi = transfer_spectrum(E, T, k=5)
    assert abs(complex(dense[0])) == pytest.approx(1.0, abs=1e-15)
    # by modulus (the order inside a +-pair is arbitrary); measured 9e-16
    assert np.allclose(np.sort(dense.abs().numpy()), np.sort(arnoldi.abs().numpy()), atol=1e-12)
    with pytest.raises(ValueError, match="1 <= k"):
        transfer_spectrum(E, T, k=0)


@pytest.mark.parametrize(
    "name, chi, tol",
    [
        # measured max |difference| of l1..l5: 9.5e-8.  The listed values are
        # themselves reproducible only to ~3e-6: with CTMRG tol 1e-14 (922
        # iterations) ours moves by 5e-7..2.6e-6 at this chi.
        ("j20.0_state_1s_A1_j20.0_D2_chi_opt48", 16, 1e-6),
        # measured 5.4e-7, the same at CTMRG tol 1e-12 and 1e-14
        ("j20.5_state_1s_A1_j20.5_D2_chi_opt48", 32, 5e-6),
    ],
)
def test_published_transfer_eigenvalues_are_reproduced(name, chi, tol):
    json_path = STATES / f"{name}.json"
    if not json_path.is_file():
        pytest.skip(f"published states not found at {STATES} (shared/ beside the clone)")
    table = np.loadtxt(json_path.with_suffix(".dat"), comments="#")
    listed = table[table[:, 2] == chi][0, 5:11]  # l0..l5
    A = prepare(read_json_tensor(json_path))
    T = double_layer(A)
    _, E, info = ctmrg(T, CTMRGOptions(chi=chi, tol=1e-12, max_iter=300), boundary=identity_boundary(2))
    assert info.converged
    ours = transfer_spectrum(E, T, k=6).abs().numpy()
    assert ours == pytest.approx(listed, abs=tol)
    assert correlation_length(ours) == pytest.approx(-1 / math.log(listed[1]), rel=10 * tol)


def test_product_state_has_a_one_level_transfer_matrix_and_no_correlation_length():
    # D = 1: the environment has bond 1, the column transfer matrix is 1 x 1, xi = 0 (what the
    # tiny workflow's D = 1 measurement records).
    A = prepare(random_tensor(1, seed=0))
    T = double_layer(A)
    _, E, info = ctmrg(T, CTMRGOptions(chi=4, tol=1e-12, max_iter=100), boundary=identity_boundary(1))
    spectrum = transfer_spectrum(E, T, k=6)
    assert len(spectrum) == E.shape[0] ** 2 * E.shape[1] == 1
    assert correlation_length(spectrum) == 0.0
