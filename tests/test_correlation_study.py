"""The correlation-length study: packaged published states, the aggregates and the command.

Oracles: the exact 2D Ising correlation length (``ising.exact_correlation_length``,
McCoy & Wu) that the Ising table carries beside CTMRG, and the |lambda_1/lambda_0|
listed with the published C4v iPEPS states (Hasik, Poilblanc, Becca, SciPost Phys.
10, 012 (2021)), now shipped inside the package.  The library side (CTMRG spectra
against exact at larger chi) is tests/test_correlation.py.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from difftn.cli import main
from difftn.data.reference import PACKAGED_D, PUBLISHED_STATES, published_state_path, published_table
from difftn.infra.io import read_dataset, write_dataset
from difftn.models import ising
from difftn.studies.correlation import aggregate
from difftn.studies.heisenberg import measure, read_json_tensor
from difftn.studies.ising import correlation_point

SHARED = Path(os.environ.get("DIFFTN_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
SHARED_STATES = SHARED / "reference" / "ipeps_states"


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# --- the published states shipped with the package -------------------------------------------


@pytest.mark.parametrize("D", [2, 3, 4, 5])
def test_packaged_states_are_the_published_files(D):
    path = published_state_path(D)
    assert path.parent == PUBLISHED_STATES and path.suffix == ".json"
    A = read_json_tensor(path)
    assert A.shape == (2, D, D, D, D)
    table = published_table(D)
    assert (table.D == D).all() and (table.J2 == 0).all()
    assert table.l0.values == pytest.approx(1.0, abs=1e-15)  # normalized: listed 1 or 1 - 1.1e-16
    assert np.all(np.diff(table.chi) > 0) and np.all((table.l1 > 0) & (table.l1 < 1))
    if SHARED_STATES.is_dir():  # copied unchanged from shared/reference/ipeps_states
        for packaged in (path, path.with_suffix(".dat")):
            assert packaged.read_bytes() == (SHARED_STATES / packaged.name).read_bytes()


def test_packaged_d_lists_the_packaged_states():
    names = sorted(p.name for p in PUBLISHED_STATES.glob("j20.0_*.json"))
    assert names == sorted(published_state_path(D).name for D in PACKAGED_D)


def test_packaged_states_name_their_source_and_licence():
    text = (PUBLISHED_STATES / "SOURCE.md").read_text()
    assert "CC BY 4.0" in text and "SciPost Phys. 10, 012 (2021)" in text and "unchanged" in text


@pytest.mark.parametrize("D, J2", [(6, 0.0), (1, 0.0), (2, 0.5)])
def test_a_state_that_is_not_packaged_is_refused_by_name(D, J2):
    with pytest.raises(ValueError, match=f"no packaged published state for D = {D}, J2 = {J2}; packaged .*D2, D3"):
        published_state_path(D, J2)


def test_packaged_D2_state_reproduces_its_listed_correlation_length():
    listed = published_table(2).set_index("chi").loc[16]
    ds = measure(published_state_path(2), 16, ctm_tol=1e-12, device="cpu")
    # listed l1..l5 reproduced to 6.8e-8 (tests/test_correlation.py: 9.5e-8 at this chi); xi measured 4.0e-8 rel
    assert ds.transfer_eigenvalues.values == pytest.approx(listed[[f"l{i}" for i in range(6)]].values, abs=1e-6)
    assert float(ds.correlation_length) == pytest.approx(-1 / np.log(listed.l1), rel=5e-7)
    assert float(ds.energy) == pytest.approx(listed.energy, abs=1e-13)  # measured 4e-16


# --- the aggregates ------------------------------------------------------------------------------


@pytest.fixture
def ising_points(tmp_path):
    """Real `difftn ising xi` files: chi 4 and 6 on both sides of beta_c (written in reverse order)."""
    paths = []
    for chi in (6, 4):
        for beta in (0.6, 0.3):
            path = tmp_path / f"ising_chi{chi}_beta{beta}.nc"
            write_dataset(correlation_point(beta, chi, ctm_tol=1e-10, ctm_max_iter=1000), path)
            paths.append(path)
    return paths


@pytest.fixture
def measurements(tmp_path):
    """Real `difftn heisenberg measure` files of the packaged D = 2 state at chi 4 and 8."""
    paths = []
    for chi in (8, 4):
        path = tmp_path / f"D2_chi{chi}.nc"
        write_dataset(measure(published_state_path(2), chi, ctm_tol=1e-9, device="cpu"), path)
        paths.append(path)
    return paths


def test_ising_table_over_chi_and_beta_holds_the_exact_value(ising_points):
    table = aggregate(ising_points)
    assert list(table.chi.values) == [4, 6] and list(table.beta.values) == [0.3, 0.6]
    for path in ising_points:
        point = read_dataset(path)
        row = table.sel(chi=point.attrs["chi"], beta=float(point.beta))
        assert float(row.correlation_length) == float(point.correlation_length)
        exact = float(ising.exact_correlation_length(float(point.beta)))
        assert float(row.correlation_length_exact) == exact
        assert float(row.relative_error) == pytest.approx(float(point.correlation_length) / exact - 1, abs=1e-15)
    # CTMRG approaches from below, closer at larger chi (tests/test_correlation.py): measured -0.075, -0.139
    # (chi 4; beta 0.3, 0.6) and -0.041, -0.085 (chi 6)
    err = table.relative_error
    assert np.all(err < 0) and np.all(err > -0.5) and np.all(err.sel(chi=6) > err.sel(chi=4))
    # the quasiparticle gap on the same environments is exact to rounding already: measured <= 7.7e-15
    assert np.all(np.abs(table.relative_error_quasiparticle) < 1e-13)
    point = read_dataset(ising_points[0])
    row = table.sel(chi=point.attrs["chi"], beta=float(point.beta))
    assert float(row.correlation_length_quasiparticle) == float(point.correlation_length_quasiparticle)
    assert table.attrs["difftn_stage"] == "correlation_aggregate" and table.attrs["source_hash"]


def test_heisenberg_table_over_D_and_chi(measurements):
    table = aggregate(measurements)
    assert list(table.D.values) == [2] and list(table.chi.values) == [4, 8]
    for path in measurements:
        point = read_dataset(path)
        row = table.sel(D=2, chi=int(point.chi))
        assert float(row.energy) == float(point.energy)
        assert float(row.correlation_length) == float(point.correlation_length)
        levels = [float(row[f"transfer_l{i}"]) for i in range(6)]
        np.testing.assert_array_equal(levels, point.transfer_eigenvalues.values)
    assert table.attrs["J2"] == 0.0
    assert json.loads(table.attrs["state_files"]) == [published_state_path(2).name]


def _synthetic(path, stage, **attrs):
    """A result file with only what the aggregate reads (never a physics number)."""
    if stage == "ising_xi":
        ds = xr.Dataset({"correlation_length": 1.0, "correlation_length_quasiparticle": 1.5,
                         "correlation_length_exact": 2.0, "ctm_iterations": 3},
                        coords={"beta": attrs.pop("beta", 0.3)})  # fmt: skip
        attrs.setdefault("chi", 4)
    else:
        ds = xr.Dataset({"energy": -0.5, "magnetization": 0.4, "correlation_length": 1.0, "ctm_iterations": 3,
                         "truncation_error": 0.0, "transfer_eigenvalues": ("level", [1.0, 0.5])},
                        coords={"D": 2, "chi": attrs.pop("chi", 4)})  # fmt: skip
        attrs.setdefault("J2", 0.0)
        attrs.setdefault("state_file", "x.json")
    ds.attrs.update({"difftn_stage": stage, "wall_time_s": 1.0, "peak_memory_mb": 1.0, "config_hash": "c",
                     "device": "cpu", "dtype": "float64", "source_hash": "s", **attrs})  # fmt: skip
    write_dataset(ds, path)
    return path


def test_synthetic_files_pad_missing_levels_with_nan(tmp_path):
    table = aggregate([_synthetic(tmp_path / "a.nc", "heisenberg_measure")]).sel(D=2, chi=4)
    assert float(table.transfer_l1) == 0.5 and np.isnan(float(table.transfer_l2))  # a D = 1 state has one level


@pytest.mark.parametrize(
    "files, message",
    [
        ([], "no input files"),
        ([("ising_xi", {}), ("heisenberg_measure", {})], "not a mixture; got stages"),
        ([("ising_optimize", {})], "needs files of 'difftn ising xi'"),
        ([("ising_xi", {}), ("ising_xi", {})], "chi = 4, beta = 0.3 appears twice"),
        ([("heisenberg_measure", {}), ("heisenberg_measure", {"chi": 8, "J2": 0.5})], "mix J2 values"),
        ([("ising_xi", {}), ("ising_xi", {"beta": 0.6, "config_hash": "other"})], "mix config_hash"),
    ],
)
def test_aggregate_refuses_what_would_be_a_wrong_table(tmp_path, files, message):
    paths = [_synthetic(tmp_path / f"{i}.nc", stage, **attrs) for i, (stage, attrs) in enumerate(files)]
    with pytest.raises(ValueError, match=message):
        aggregate(paths)


# --- the command ---------------------------------------------------------------------------------


def test_cli_aggregates_and_draws_both_figures(tmp_path, ising_points, measurements):
    for part, files in (("ising", ising_points), ("heisenberg", measurements)):
        summary, csv, png = tmp_path / f"{part}.nc", tmp_path / f"{part}.csv", tmp_path / f"{part}.png"
        argv = ["correlation", "aggregate", *map(str, files), "--out", str(summary), "--csv", str(csv)]
        assert main(argv) == 0
        header = csv.read_text().splitlines()[0]
        assert header.startswith("chi,beta,correlation_length," if part == "ising" else "D,chi,energy,")
        assert main(["correlation", "figure", part, str(summary), "--out", str(png)]) == 0
        assert png.stat().st_size > 10_000 and png.with_suffix(".pdf").stat().st_size > 5_000


def test_cli_measures_the_packaged_state(tmp_path):
    out = tmp_path / "D2.nc"
    argv = ["heisenberg", "measure", "--state", str(published_state_path(2)), "--chi", "8", "--out", str(out),
            "--threads", "1", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    assert int(read_dataset(out).D) == 2
