"""The CI check of the default study's outputs (.ci/check_study.py) reads the README right."""

import importlib.util

import numpy as np
import xarray as xr
from support import REPO, api_script_json

from difftn.infra.io import write_dataset


def _check_module():
    spec = importlib.util.spec_from_file_location("check_study", REPO / ".ci/check_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Prints the final outputs of the default study (rule all's inputs under config.yaml).
_FINAL_OUTPUTS = """
import json, sys
from workflow_api import loaded_workflow

with loaded_workflow(sys.argv[1]) as workflow_api:
    print(json.dumps(sorted(str(path) for path in workflow_api._workflow.get_rule("all").input)))
"""


def test_readme_list_names_every_final_output_of_the_default_study():
    """CI checks what the README lists, so a figure or table missing from the list would go unchecked."""
    final = api_script_json(_FINAL_OUTPUTS, REPO / "config.yaml")
    assert len(final) >= 40  # every study's figures and tables
    listed = _check_module().listed_outputs((REPO / "README.md").read_text())
    assert sorted(set(final) - set(listed)) == []


def test_missing_and_non_finite_outputs_are_reported(tmp_path):
    check = _check_module().check
    assert check(tmp_path / "absent.nc") == ["missing"]
    (tmp_path / "t.csv").write_text("beta,energy,energy_exact\n0.4,-1.0,\n0.5,nan,-1.2\n")
    assert check(tmp_path / "t.csv") == ["energy: 1 non-finite value(s)"]  # energy_exact may be empty
    write_dataset(xr.Dataset({"lnz": ("beta", np.array([1.0, np.inf]))}), tmp_path / "t.nc")
    assert check(tmp_path / "t.nc") == ["lnz: 1 non-finite value(s)"]
    (tmp_path / "f.png").write_bytes(b"not a png")
    assert check(tmp_path / "f.png")[0].startswith("not a PNG")
