"""L-BFGS optimization of the D = 2 Heisenberg iPEPS: reaches the known energy; resume is exact."""

import numpy as np
import pytest

from difftn.cli import main
from difftn.io import read_dataset
from difftn.optimize import LBFGSOptions
from difftn.studies import heisenberg

CTM = {"tol": 1e-10, "max_iter": 200, "grad_mode": "fixed_point"}


@pytest.fixture(scope="module")
def d2_state(tmp_path_factory):
    out = tmp_path_factory.mktemp("d2") / "state.nc"
    heisenberg.optimize(2, 20, out, seed=0, ctm=CTM, lbfgs={"max_iter": 80}, device="cpu", progress=False)
    return out


def test_d2_reaches_the_best_known_energy(d2_state):
    state = heisenberg.load_state(d2_state)
    # Best known for this ansatz: -0.6602310935 (Hasik et al., chi = 192);
    # chi = 20 is converged to ~1e-7 here.
    assert state.energy.values[-1] < -0.6602
    assert state.magnetization.values[-1] == pytest.approx(0.3911, abs=1e-3)
    assert np.all(np.diff(state.energy.values) <= 1e-12)  # L-BFGS with Wolfe steps never goes up
    assert state.attrs["line_search"] == "strong_wolfe"
    assert int(state.ctm_converged.values.min()) == 1


def test_measure_at_larger_chi(d2_state, tmp_path):
    obs = tmp_path / "obs.nc"
    assert main(["heisenberg", "measure", "--state", str(d2_state), "--chi", "30", "--out", str(obs),
                 "--threads", "1"]) == 0  # fmt: skip
    ds = read_dataset(obs)
    assert float(ds.energy) == pytest.approx(-0.66023, abs=2e-5)
    assert float(ds.magnetization) == pytest.approx(0.3911, abs=1e-3)
    assert float(ds.energy_relative_error) == pytest.approx((float(ds.energy) + 0.669437) / 0.669437)


def test_resume_equals_uninterrupted_run(tmp_path):
    common = dict(seed=3, ctm=CTM, device="cpu", progress=False)
    whole = heisenberg.optimize(2, 12, tmp_path / "whole.nc", lbfgs={"max_iter": 8}, **common)
    part = tmp_path / "part.nc"
    first = heisenberg.optimize(2, 12, part, lbfgs={"max_iter": 4}, **common)
    assert int(first.attrs["iteration"]) == 4
    resumed = heisenberg.optimize(2, 12, part, resume=True, lbfgs={"max_iter": 8}, **common)
    assert int(resumed.attrs["iteration"]) == int(whole.attrs["iteration"])
    np.testing.assert_allclose(resumed.energy.values, whole.energy.values, rtol=0, atol=1e-8)
    np.testing.assert_allclose(resumed.A.values, whole.A.values, rtol=0, atol=1e-8)


def test_start_from_smaller_d(d2_state, tmp_path):
    out = tmp_path / "d3.nc"
    state = heisenberg.optimize(3, 20, out, init=d2_state, seed=1, ctm=CTM, lbfgs={"max_iter": 3},
                                device="cpu", progress=False)  # fmt: skip
    d2_energy = heisenberg.load_state(d2_state).energy.values[-1]
    assert state.A.shape == (2, 3, 3, 3, 3)
    assert "padded from" in state.attrs["init"]
    assert state.energy.values[-1] < d2_energy + 1e-3  # starts near the D = 2 optimum, not from scratch


@pytest.mark.parametrize("field, value", [("max_iter", 0), ("history_size", 0), ("tolerance_grad", 0.0)])
def test_bad_lbfgs_options_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        LBFGSOptions(**{field: value})
