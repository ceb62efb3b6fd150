"""Tests of the spin-glass model and its boundary-MPS solution: closed forms
(chains, a single bond), exact enumeration as the oracle for ln Z, every
bond correlation (first derivatives) and the connected correlations (second
derivatives) on 3 x 3 and 4 x 4 lattices, the transfer matrix, exact
sampling, and the study stages."""

import math

import numpy as np
import pytest
import torch
from torch.autograd import gradcheck, gradgradcheck

from difftn.contract.boundary_mps import BoundaryMPSOptions
from difftn.infra.io import write_dataset
from difftn.methods import spinglass_solver as solver
from difftn.models import spinglass as sg
from difftn.studies import spinglass as study

DT = torch.float64


def chain(K, h=None):
    """A 1 x n chain with couplings K (and fields h)."""
    K = torch.as_tensor(K, dtype=DT)
    n = K.numel() + 1
    return sg.SpinGlass(K.reshape(1, -1), torch.zeros(0, n, dtype=DT), torch.zeros(1, n, dtype=DT) if h is None else h)


# --------------------------------------------------------------------------
# Model and exact references


def test_two_spins_closed_form():
    K, h1, h2 = 0.7, 0.3, -0.5
    m = sg.SpinGlass(torch.tensor([[K]], dtype=DT), torch.zeros(0, 2, dtype=DT), torch.tensor([[h1, h2]], dtype=DT))
    z = sum(math.exp(K * a * b + h1 * a + h2 * b) for a in (1, -1) for b in (1, -1))
    assert float(sg.enumerate_lnz(m)) == pytest.approx(math.log(z), abs=1e-15)
    assert float(sg.transfer_lnz(m)) == pytest.approx(math.log(z), abs=1e-15)
    assert float(solver.mps_lnz(m)[0]) == pytest.approx(math.log(z), abs=1e-15)


@pytest.mark.parametrize("method", ["enumerate", "transfer", "mps"])
def test_open_chain_is_a_product_of_bonds(method):
    # No loops, no fields: Z = 2 prod 2 cosh K_i and <s_i s_i+1> = tanh K_i.
    K = torch.tensor([0.3, -1.2, 2.0, 0.05, -0.6], dtype=DT)
    m = chain(K)
    exact = math.log(2) + float(torch.log(2 * torch.cosh(K)).sum())
    k = m.couplings.clone().requires_grad_()
    lnz = {"enumerate": sg.enumerate_lnz, "transfer": sg.transfer_lnz, "mps": lambda x: solver.mps_lnz(x)[0]}[method](
        sg.SpinGlass.from_vector(k, m.shape)
    )
    (corr,) = torch.autograd.grad(lnz, k)
    # Measured 0 and <= 3.3e-16 over the three methods.
    assert float(lnz.detach()) == pytest.approx(exact, abs=1e-14)
    torch.testing.assert_close(corr, torch.tanh(K), rtol=0, atol=3e-15)


def test_single_bond_in_a_lattice_has_correlation_tanh_k():
    # All other couplings zero: every other spin is free, <s_i s_j> = tanh K_ij.
    L = 4
    bonds = sg.bond_list(L, L)
    target = bonds.index(((1, 2), (2, 2)))
    K = torch.zeros(len(bonds), dtype=DT)
    K[target] = -0.8
    corr = solver.mps_observables(sg.SpinGlass.from_vector(K, (L, L)), BoundaryMPSOptions(chi=4))["correlations"]
    expected = torch.zeros_like(K)
    expected[target] = math.tanh(-0.8)
    torch.testing.assert_close(corr, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("shape, field_std", [((3, 3), 0.0), ((4, 4), 0.5), ((3, 5), 0.3), ((5, 3), 0.0)])
def test_transfer_matrix_equals_enumeration(shape, field_std):
    m = sg.random_spin_glass(shape[0], seed=11, cols=shape[1], field_std=field_std)
    # ln Z ~ 10-30; measured identical to the last bit for all four shapes.
    assert float(sg.transfer_lnz(m)) == pytest.approx(float(sg.enumerate_lnz(m)), abs=5e-14)


def test_enumerated_moments_are_the_derivatives_of_ln_z():
    m = sg.random_spin_glass(3, seed=4, field_std=0.4)
    k, h = m.couplings.clone().requires_grad_(), m.h.clone().requires_grad_()
    lnz = sg.enumerate_lnz(sg.SpinGlass.from_vector(k, m.shape, h))
    dk, dh = torch.autograd.grad(lnz, (k, h))
    exact = sg.enumerate_moments(m)
    torch.testing.assert_close(dk, exact["correlations"], rtol=0, atol=1e-14)
    torch.testing.assert_close(dh.reshape(-1), exact["magnetization"], rtol=0, atol=1e-14)
    cov = exact["covariance"]
    torch.testing.assert_close(cov, cov.mT)
    assert float(torch.linalg.eigvalsh(cov).min()) > 0  # distinct bonds: independent statistics


def test_random_instances_are_reproducible_and_scaled():
    a = sg.random_spin_glass(5, seed=3, coupling_std=2.0, field_std=0.5)
    b = sg.random_spin_glass(5, seed=3, coupling_std=1.0, field_std=0.25)
    torch.testing.assert_close(a.couplings, 2 * b.couplings, rtol=0, atol=0)
    torch.testing.assert_close(a.h, 2 * b.h, rtol=0, atol=0)
    assert not torch.equal(a.couplings, sg.random_spin_glass(5, seed=4, coupling_std=2.0).couplings)
    assert a.n_bonds == 2 * 5 * 4 and len(sg.bond_list(5, 5)) == a.n_bonds


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="seed"):
        sg.random_spin_glass(3, seed=-1)
    with pytest.raises(ValueError, match="coupling_std"):
        sg.random_spin_glass(3, seed=0, coupling_std=-1.0)
    with pytest.raises(ValueError, match="kh"):
        sg.SpinGlass(torch.zeros(3, 3), torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="rows \\* cols <= 20"):
        sg.enumerate_lnz(sg.random_spin_glass(5, seed=0))
    with pytest.raises(ValueError, match="couplings"):
        sg.SpinGlass.from_vector(torch.zeros(5, dtype=DT), (3, 3))


def test_exact_samples_reproduce_the_moments():
    m = sg.random_spin_glass(3, seed=2, field_std=0.5)
    n = 40_000
    samples = sg.sample_exact(m, n, torch.Generator().manual_seed(0))
    assert samples.shape == (n, 3, 3) and set(samples.unique().tolist()) == {-1.0, 1.0}
    products, spins = sg.bond_statistics(samples)
    exact = sg.enumerate_moments(m)
    # Each mean has standard error <= 1/sqrt(n) = 0.005; 5 sigma.
    assert float((products.mean(0) - exact["correlations"]).abs().max()) < 0.025
    assert float((spins.mean(0) - exact["magnetization"]).abs().max()) < 0.025
    again = sg.sample_exact(m, n, torch.Generator().manual_seed(0))
    assert torch.equal(samples, again)


# --------------------------------------------------------------------------
# Boundary MPS against exact enumeration (the targets)


@pytest.mark.parametrize("seed, field_std", [(0, 0.0), (1, 0.0), (2, 0.5), (3, 1.0)])
def test_4x4_ln_z_and_all_correlations_equal_enumeration(seed, field_std):
    m = sg.random_spin_glass(4, seed=seed, field_std=field_std)
    exact = sg.enumerate_moments(m)
    for chi in (4, 16):  # 4 = 2^(L/2): no truncation
        r = solver.mps_observables(m, BoundaryMPSOptions(chi=chi))
        # Measured over all cases: 3.6e-15, 2.1e-14, 1.2e-14.
        assert abs(r["lnz"] - float(exact["lnz"])) < 4e-14
        assert float((r["correlations"] - exact["correlations"]).abs().max()) < 2e-13
        assert float((r["magnetization"] - exact["magnetization"]).abs().max()) < 2e-13


def test_4x4_chi_convergence():
    m = sg.random_spin_glass(4, seed=0)
    exact = float(sg.enumerate_lnz(m))
    errors = [abs(solver.mps_observables(m, BoundaryMPSOptions(chi=chi))["lnz"] - exact) for chi in (1, 2, 3, 4)]
    # Truncation is not variational: measured 0.49, 4.1e-4, 7.7e-4, 0.  Only
    # chi = 4 = 2^(L/2) keeps every Schmidt value.
    assert errors[0] > 0.1 and min(errors[1:3]) > 1e-5 and max(errors[1:3]) < 1e-2 and errors[3] < 1e-12


@pytest.mark.parametrize("L, field_std", [(3, 0.5), (4, 0.0)])
def test_connected_correlations_are_second_derivatives(L, field_std):
    m = sg.random_spin_glass(L, seed=5, field_std=field_std)
    options = BoundaryMPSOptions(chi=8)
    hessian = torch.autograd.functional.hessian(
        lambda k: solver.mps_lnz(sg.SpinGlass.from_vector(k, m.shape, m.h), options)[0], m.couplings
    )
    cov = sg.enumerate_moments(m)["covariance"]
    assert float((hessian - cov).abs().max()) < 1e-13  # measured 1.1e-15 (L = 3), 1.0e-14 (L = 4)


def test_gradcheck_and_gradgradcheck_3x3():
    m = sg.random_spin_glass(3, seed=8, field_std=0.3)
    options = BoundaryMPSOptions(chi=8)
    f = lambda k, h: solver.mps_lnz(sg.SpinGlass(k[:6].reshape(3, 2), k[6:].reshape(2, 3), h), options)[0]  # noqa: E731
    args = (m.couplings.clone().requires_grad_(), m.h.clone().requires_grad_())
    assert gradcheck(f, args, atol=1e-8, rtol=1e-7)
    assert gradgradcheck(f, args, atol=1e-7, rtol=1e-6)


def test_truncated_contraction_is_still_differentiable_and_close():
    # 8 x 8 at chi = 8 (exact needs 16): finite differences of the truncated
    # function itself, and the correlations near the exact ones.
    m = sg.random_spin_glass(8, seed=0)
    options = BoundaryMPSOptions(chi=8)
    k = m.couplings.clone().requires_grad_()
    lnz, info = solver.mps_lnz(sg.SpinGlass.from_vector(k, m.shape), options)
    (grad,) = torch.autograd.grad(lnz, k)
    assert info.max_truncation_error > 0
    direction = torch.randn(k.shape, generator=torch.Generator().manual_seed(0), dtype=DT)
    step = 1e-5
    f = lambda x: float(solver.mps_lnz(sg.SpinGlass.from_vector(x, m.shape), options)[0])  # noqa: E731
    fd = (f(m.couplings + step * direction) - f(m.couplings - step * direction)) / (2 * step)
    assert float(grad @ direction) == pytest.approx(fd, abs=1e-8)  # O(step^2): measured 8.1e-10
    k2 = m.couplings.clone().requires_grad_()
    (exact,) = torch.autograd.grad(sg.transfer_lnz(sg.SpinGlass.from_vector(k2, m.shape)), k2)
    assert float((grad - exact).abs().max()) < 1e-6  # measured 6.5e-8


# --------------------------------------------------------------------------
# Study stages


def test_study_points_exact_reference_and_aggregate(tmp_path):
    paths = []
    for L in (3, 4):
        write_dataset(study.compute_exact(L, 1, field_std=0.2), tmp_path / f"exact{L}.nc")
        paths.append(tmp_path / f"exact{L}.nc")
        for chi in (1, 2, 4):
            ds = study.compute_point(L, chi, 1, field_std=0.2)
            write_dataset(ds, tmp_path / f"L{L}_chi{chi}.nc")
            paths.append(tmp_path / f"L{L}_chi{chi}.nc")
    write_dataset(study.compute_point(5, 2, 1), tmp_path / "L5_chi2.nc")
    write_dataset(study.compute_point(5, 4, 1), tmp_path / "L5_chi4.nc")
    paths += [tmp_path / "L5_chi2.nc", tmp_path / "L5_chi4.nc"]

    ds = study.compute_point(4, 4, 1, field_std=0.2)
    exact = sg.enumerate_moments(sg.random_spin_glass(4, 1, field_std=0.2))
    # Measured 0 and 8.3e-15 (chi = 4 is exact for L = 4).
    assert float(ds.lnz) == pytest.approx(float(exact["lnz"]), abs=4e-14)
    np.testing.assert_allclose(ds.correlation.values, exact["correlations"].numpy(), rtol=0, atol=1e-13)
    assert int(ds.bond_vertical.sum()) == 12 and int(ds.bond_row[-1]) == 2 and int(ds.bond_col[-1]) == 3
    for key in ("source_hash", "parameters", "wall_time_s", "git_commit"):
        assert key in ds.attrs

    table = study.aggregate(paths)
    assert list(table.L.values) == [3, 4, 5] and list(table.chi.values) == [1, 2, 4]
    assert list(table.reference_exact.values[:, 0]) == [1, 1, 0]
    err = table.lnz_error.sel(seed=1)
    assert abs(float(err.sel(L=4, chi=4))) < 1e-12 and abs(float(err.sel(L=4, chi=1))) > 1e-3
    assert float(table.correlation_error.sel(L=3, seed=1, chi=4)) < 1e-10
    assert float(err.sel(L=5, chi=4)) == 0.0  # the largest chi is its own reference
    assert np.isnan(float(err.sel(L=5, chi=1)))  # not computed
    with pytest.raises(ValueError, match="twice"):
        study.aggregate(paths + [tmp_path / "L3_chi1.nc"])


def test_study_rejects_bad_points():
    with pytest.raises(ValueError, match="chi"):
        study.compute_point(4, 0, 0)
    with pytest.raises(ValueError, match="L <= 16"):
        study.compute_exact(17, 0)


def test_difftn_commands(tmp_path, capsys):
    from difftn.cli import main

    run = lambda *argv: main(["-q", *map(str, argv)])  # noqa: E731
    files = []
    for chi in (1, 2):
        files.append(tmp_path / f"chi{chi}.nc")
        assert run("spinglass", "point", "--L", 3, "--chi", chi, "--seed", 2, "--threads", 1, "--out", files[-1]) == 0
    files.append(tmp_path / "exact.nc")
    assert run("spinglass", "exact", "--L", 3, "--seed", 2, "--threads", 1, "--out", files[-1]) == 0
    assert run("spinglass", "aggregate", *files, "--out", tmp_path / "s.nc", "--csv", tmp_path / "s.csv") == 0
    table = study.aggregate(files)
    assert abs(float(table.lnz_error.sel(L=3, seed=2, chi=2))) < 1e-12
    assert (tmp_path / "s.csv").read_text().startswith("L,seed,chi,")
    assert run("spinglass", "figure", "convergence", tmp_path / "s.nc", "--out", tmp_path / "c.png") == 0
    assert run("spinglass", "figure", "correlations", *files, "--out", tmp_path / "r.png") == 0
    assert (tmp_path / "c.pdf").exists() and (tmp_path / "r.png").stat().st_size > 10_000
    inv = ["--L", 2, "--chi", 2, "--threads", 1]
    assert run("inverse-ising", "exact", *inv, "--out", tmp_path / "ie.nc") == 0
    assert run("inverse-ising", "samples", *inv, "--N", 300, "--repeats", 2, "--out", tmp_path / "i300.nc") == 0
    assert run("inverse-ising", "samples", *inv, "--N", 3000, "--repeats", 2, "--out", tmp_path / "i3000.nc") == 0
    parts = [tmp_path / x for x in ("ie.nc", "i300.nc", "i3000.nc")]
    assert run("inverse-ising", "aggregate", *parts, "--out", tmp_path / "is.nc") == 0
    assert run("inverse-ising", "figure", "recovery", tmp_path / "is.nc", "--out", tmp_path / "rec.png") == 0
    assert run("design", "point", "--sites", 3, "--seed", 1, "--threads", 1, "--out", tmp_path / "d.nc") == 0
    assert run("spinglass", "exact", "--L", 17, "--out", tmp_path / "x.nc") == 1  # L > 16: a clear error, no file
    assert not (tmp_path / "x.nc").exists()
    capsys.readouterr()
    with pytest.raises(SystemExit, match="^2$") as exit_info:  # argparse: usage error
        run("spinglass", "point", "--L", 3, "--chi", 0, "--out", tmp_path / "y.nc")
    assert exit_info.value.code == 2
    assert "argument --chi: must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "y.nc").exists()
