"""The CI check of the default study's outputs (.ci/check_study.py) reads the README right."""

import importlib.util

import numpy as np
import xarray as xr
from support import REPO

from difftn.infra.io import write_dataset


def _check_module():
    spec = importlib.util.spec_from_file_location("check_study", REPO / ".ci/check_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_list_names_every_study_figure_and_table():
    outputs = _check_module().listed_outputs((REPO / "README.md").read_text())
    for name in ("ising_fig3", "heisenberg_fig4", "born_nll", "born_samples_bas", "ppeps_nll", "spinglass_convergence",
                 "inverse_ising_recovery", "j1j2_energy"):  # fmt: skip
        assert f"results/figures/{name}.png" in outputs and f"results/figures/{name}.pdf" in outputs
    for table in ("ising/chi16_steps30", "heisenberg", "born/bas", "born/digits", "ppeps/bas", "spinglass", "j1j2"):
        assert f"results/{table}/summary.nc" in outputs and f"results/{table}/summary.csv" in outputs
    assert "results/benchmarks/summary.csv" in outputs


def test_missing_and_non_finite_outputs_are_reported(tmp_path):
    check = _check_module().check
    assert check(tmp_path / "absent.nc") == ["missing"]
    (tmp_path / "t.csv").write_text("beta,energy,energy_exact\n0.4,-1.0,\n0.5,nan,-1.2\n")
    assert check(tmp_path / "t.csv") == ["energy: 1 non-finite value(s)"]  # energy_exact may be empty
    write_dataset(xr.Dataset({"lnz": ("beta", np.array([1.0, np.inf]))}), tmp_path / "t.nc")
    assert check(tmp_path / "t.nc") == ["lnz: 1 non-finite value(s)"]
    (tmp_path / "f.png").write_bytes(b"not a png")
    assert check(tmp_path / "f.png")[0].startswith("not a PNG")
