"""Tests of difftn.methods.inverse_ising: couplings recovered from exact moments (the
4 x 4 target), fields too, the ridge stationarity condition, the Fisher
information by second-order AD against enumeration and in closed form, the
1/sqrt(N) law from exact samples, and the study stages."""

import logging
import math

import numpy as np
import pytest
import torch

from difftn.methods import inverse_ising as inv
from difftn.contract.boundary_mps import BoundaryMPSOptions
from difftn.infra.io import read_dataset, write_dataset
from difftn.models import spinglass as sg
from difftn.studies import inverse_ising as study

DT = torch.float64


# (method, coupling_std, tolerance): the target is max |K error| < 1e-5;
# measured 2.6e-8, 3.2e-7 and 2.0e-7 (L-BFGS stops when ln Z stops changing
# in float64), tolerances ~10x those.
@pytest.mark.parametrize(
    "method, coupling_std, tol", [("mps", 0.5, 3e-7), ("mps", 1.0, 3e-6), ("transfer", 1.0, 2e-6)]
)
def test_4x4_couplings_recovered_from_exact_moments(method, coupling_std, tol):
    true = sg.random_spin_glass(4, seed=0, coupling_std=coupling_std)
    moments = sg.enumerate_moments(true)
    fitted, info = inv.fit_couplings(moments["correlations"], (4, 4), method=method,
                                     options=BoundaryMPSOptions(chi=4))  # fmt: skip
    rms, worst = inv.recovery_error(fitted, true)
    assert worst < tol
    # Final max |gradient| = moment mismatch: measured 1.2e-8, 2.7e-8, 1.7e-8.
    assert info.grad_max < 3e-7 and info.saturated == 0
    # The fitted model reproduces the data it was given (the same numbers,
    # now by enumeration).
    refit = sg.enumerate_moments(fitted)["correlations"]
    assert float((refit - moments["correlations"]).abs().max()) < 3e-7


def test_fields_and_couplings_recovered_together():
    true = sg.random_spin_glass(3, seed=1, coupling_std=0.8, field_std=0.4)
    moments = sg.enumerate_moments(true)
    fitted, _ = inv.fit_couplings(moments["correlations"], (3, 3), magnetization=moments["magnetization"],
                                  options=BoundaryMPSOptions(chi=8))  # fmt: skip
    # Measured 4.0e-8 (couplings) and 4.7e-8 (fields).
    assert inv.recovery_error(fitted, true)[1] < 4e-7
    assert float((fitted.h - true.h).abs().max()) < 5e-7


def test_ridge_fit_satisfies_its_stationarity_condition():
    # d/dK [lnZ - K.C + l2/2 |K|^2] = <ss>_K - C + l2 K = 0 at the minimum.
    true = sg.random_spin_glass(3, seed=2)
    c = sg.enumerate_moments(true)["correlations"]
    l2 = 0.3
    fitted, _ = inv.fit_couplings(c, (3, 3), method="transfer", l2=l2)
    residual = sg.enumerate_moments(fitted)["correlations"] - c + l2 * fitted.couplings
    assert float(residual.abs().max()) < 7e-8  # measured 7.3e-9
    assert float(fitted.couplings.norm()) < float(true.couplings.norm())  # shrunk toward 0


def test_fisher_information_is_the_covariance_of_the_bond_statistics():
    true = sg.random_spin_glass(4, seed=3, coupling_std=0.7)
    fisher = inv.fisher_information(true, "mps", BoundaryMPSOptions(chi=4))
    cov = sg.enumerate_moments(true)["covariance"]
    assert float((fisher - cov).abs().max()) < 2e-13  # chi = 4 is exact for L = 4; measured 2.1e-14


def test_cramer_rao_of_a_chain_is_cosh_k():
    # Open chain: bond statistics independent, I = diag(1 - tanh^2 K) = diag(1/cosh^2 K).
    K = torch.tensor([[0.4, -1.1, 0.7]], dtype=DT)
    model = sg.SpinGlass(K, torch.zeros(0, 4, dtype=DT), torch.zeros(1, 4, dtype=DT))
    fisher = inv.fisher_information(model, "mps")
    # Measured 1.1e-16 and 0 (rounding).
    torch.testing.assert_close(fisher, torch.diag(1 / torch.cosh(K[0]) ** 2), rtol=0, atol=1e-15)
    expected = math.sqrt(float((torch.cosh(K) ** 2).mean()))
    assert inv.cramer_rao_rms(fisher) == pytest.approx(expected, rel=1e-14)


def test_error_from_samples_follows_cramer_rao():
    # rms error over 4 sample sets at N = 400 and N = 40000: both within a
    # factor 1.6 of sqrt(tr(I^-1)/n_bonds/N) (measured ratios 0.99 and 1.15),
    # so the error falls like 1/sqrt(N).
    true = sg.random_spin_glass(3, seed=4, coupling_std=0.5)
    cr = inv.cramer_rao_rms(inv.fisher_information(true, "transfer"))
    for N in (400, 40_000):
        errors = []
        for r in range(4):
            samples = sg.sample_exact(true, N, study.sample_generator(0, N, r))
            fitted, _ = inv.fit_couplings(inv.sample_moments(samples)[0], (3, 3), method="transfer")
            errors.append(inv.recovery_error(fitted, true)[0])
        ratio = math.sqrt(np.mean(np.square(errors))) / (cr / math.sqrt(N))
        assert 1 / 1.6 < ratio < 1.6, (N, ratio)


def test_sample_moments():
    s = torch.tensor([[[1, 1], [1, -1]], [[1, -1], [-1, -1]]], dtype=DT)  # two 2 x 2 configurations
    corr, mag = inv.sample_moments(s)
    # Bonds: (0,0)-(0,1), (1,0)-(1,1), (0,0)-(1,0), (0,1)-(1,1).
    torch.testing.assert_close(corr, torch.tensor([0.0, 0.0, 0.0, 0.0], dtype=DT))
    torch.testing.assert_close(mag, torch.tensor([1.0, 0.0, 0.0, -1.0], dtype=DT))
    corr, _ = inv.sample_moments(s[:1])
    torch.testing.assert_close(corr, torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=DT))


def test_saturated_correlation_warns(caplog):
    c = torch.full((4,), 0.2, dtype=DT)
    c[0] = 1.0
    lbfgs = inv.LBFGSOptions(max_iter=3, tolerance_change=1e-300)
    with caplog.at_level(logging.WARNING, logger="difftn.methods.inverse_ising"):
        _, info = inv.fit_couplings(c, (2, 2), method="transfer", lbfgs=lbfgs)
    assert info.saturated == 1 and "infinite" in caplog.text


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"correlations": torch.zeros(5, dtype=DT)}, "shape"),
        ({"correlations": torch.full((4,), 1.5, dtype=DT)}, r"\[-1, 1\]"),
        ({"l2": -1.0}, "l2"),
        ({"method": "exact"}, "method"),
        ({"magnetization": torch.zeros(3, dtype=DT)}, "magnetization"),
    ],
)
def test_bad_fit_inputs_are_rejected(kwargs, match):
    args = {"correlations": torch.zeros(4, dtype=DT), "shape": (2, 2), **kwargs}
    with pytest.raises(ValueError, match=match):
        inv.fit_couplings(**args)


def test_study_stages_and_aggregate(tmp_path):
    kw = dict(coupling_std=0.5, method="mps", chi=4)
    fit = study.FitSettings(L=3, seed=0, **kw)
    exact = study.compute_exact_point(fit)
    # Measured 8.9e-9 and 1.0e-15.
    assert float(exact.max_error) < 1e-7 and float(exact.fisher_error) < 1e-14
    write_dataset(exact, tmp_path / "exact.nc")
    paths = [tmp_path / "exact.nc"]
    for N in (200, 20_000):
        ds = study.compute_samples_point(N, fit, repeats=2)
        assert ds.sizes["repeat"] == 2 and int(ds.N) == N
        write_dataset(ds, tmp_path / f"N{N}.nc")
        paths.append(tmp_path / f"N{N}.nc")
    again = study.compute_samples_point(200, fit, repeats=2)  # same seeds, same samples, same fits
    np.testing.assert_array_equal(again.coupling_fit.values, read_dataset(paths[1]).coupling_fit.values)
    table = study.aggregate(paths)
    assert list(table.N.values) == [200, 20_000]
    # 1/sqrt(N): the error ratio is 10 and the log-log slope -1/2 up to
    # sampling noise.  2 repeats x 12 bonds pin each rms to ~15%, the slope
    # over a factor 100 in N to ~0.05 (1 sigma); bounds at 3 sigma.  Measured:
    # ratio 15.3, slope -0.59 (rms / Cramer-Rao 1.37 at N = 200, 0.90 at 20,000).
    ratio = float(table.rms_error.sel(N=200)) / float(table.rms_error.sel(N=20_000))
    assert 5 < ratio < 20
    assert -0.65 < table.attrs["slope"] < -0.35
    np.testing.assert_allclose(table.cramer_rao.values, float(exact.cramer_rao_rms) / np.sqrt([200, 20_000]))
    other = study.compute_samples_point(200, study.FitSettings(L=3, seed=1, **kw), repeats=1)
    write_dataset(other, tmp_path / "other.nc")
    with pytest.raises(ValueError, match="another instance"):
        study.aggregate([paths[0], tmp_path / "other.nc"])
    with pytest.raises(ValueError, match="L\\*L <= 20"):
        study.compute_exact_point(study.FitSettings(L=5, seed=0))
