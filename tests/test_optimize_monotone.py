"""L-BFGS never accepts an iteration that raises the loss (difftn.methods.optimize.minimize).

A failed iteration (no step) keeps its start point and drops the curvature
history; a failed steepest-descent iteration stops with "line search failed".
The Heisenberg seed-3 run is the case where a rise once happened: its line
search at iteration 2 found no point below the start, and the start point,
evaluated again with CTMRG warm-started from the last (distant) trial, landed
on another truncated fixed point 1.8e-4 higher.  Every evaluation now starts
from the current iterate's environment, and that line search succeeds.
"""

import logging

import numpy as np
import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.methods.ipeps import evaluate
from difftn.models.heisenberg import bond_hamiltonian
from difftn.methods.optimize import LBFGSOptions, minimize
from difftn.studies import heisenberg

CURVATURES = (1.0, 30.0)


def _quadratic(x):
    """0.5 sum_i a_i x_i^2 with a = CURVATURES: minimum 0 at x = 0."""
    return 0.5 * (torch.tensor(CURVATURES, dtype=x.dtype) * x**2).sum()


def _recording(trials):
    """_quadratic, appending every evaluated point to ``trials``."""

    def objective(x):
        trials.append(x.detach().clone())
        return _quadratic(x)

    return objective


def _run(objective, x0, options, **kwargs):
    rows = []

    def callback(iteration, x, loss, grad_max, snap):
        rows.append({"iteration": iteration, "x": x.clone(), "loss": loss, "snapshot": snap})

    x, stop = minimize(objective, x0, options, callback=callback, progress=False, **kwargs)
    return x, stop, rows


def test_no_descent_direction_stops_with_line_search_failed(caplog):
    # Value |x|^2 but gradient -2x: every search direction goes uphill, so the
    # first (steepest-descent) line search finds no point below the start.
    def objective(x):
        return 2 * (x.detach() ** 2).sum() - (x**2).sum()

    x0 = torch.tensor([1.0, -0.5, 0.25], dtype=torch.float64)
    with caplog.at_level(logging.WARNING, logger="difftn.methods.optimize"):
        x, stop, rows = _run(objective, x0, LBFGSOptions(max_iter=10))
    assert stop == "line search failed"
    assert "iteration 1: line search took no step" in caplog.text
    assert torch.equal(x, x0)  # the start point, not a trial point
    assert [row["loss"] for row in rows] == [float((x0**2).sum())]


def test_the_accepted_point_is_not_evaluated_again():
    # The Heisenberg mechanism in one dimension: -x with a wall at 1.05, and
    # an evaluation lands 1 higher ("on another fixed point") right after a
    # distant evaluation or when repeated.  torch.optim.LBFGS evaluated the
    # point its line search accepted once more, which gave -0.01 here, a rise
    # from -1 (then caught by a guard in the driver).  The line search now
    # hands back the loss and gradient of the point it accepts.
    first_value, evaluated = {}, []
    memory = {"previous": None}

    def objective(x):
        value, key = float(x.detach()[0]), x.detach().numpy().tobytes()
        far = memory["previous"] is not None and abs(value - memory["previous"]) > 0.05
        jump = 1.0 if far or key in first_value else 0.0
        memory["previous"] = value
        loss = -x[0] + 1e3 * torch.relu(x[0] - 1.05) ** 2 + jump
        first_value.setdefault(key, float(loss.detach()))
        evaluated.append(key)
        return loss

    x0 = torch.tensor([1.0], dtype=torch.float64)
    x, stop, rows = _run(objective, x0, LBFGSOptions(max_iter=4, lr=0.01, max_evals_per_iter=3))
    assert len(evaluated) == len(set(evaluated))  # no point evaluated twice
    assert [row["loss"] for row in rows] == [first_value[row["x"].numpy().tobytes()] for row in rows]
    # Measured: -1.01, -1.02, -1.03, -1.04 (steps of lr = 0.01 towards the wall).
    losses = np.array([-1.0] + [row["loss"] for row in rows])
    assert np.all(np.diff(losses) < 0)
    assert float(x[0]) < 1.05 and stop == "max_iter"


@pytest.fixture
def poisoned_snapshot():
    """A resume snapshot at x0 whose L-BFGS direction is -1e-20 g: torch takes no step."""
    x0 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    x = x0.clone().requires_grad_()
    loss = _quadratic(x)
    loss.backward()
    g, loss = x.grad.numpy(), float(loss.detach())
    return x0, {
        "cache_x": x0.numpy(), "cache_grad": g, "cache_loss": loss,
        "func_evals": 1.0, "n_iter": 1.0, "t": 1.0, "H_diag": 1e-20, "prev_loss": loss,
        "d": -g, "prev_flat_grad": g,  # y = g - prev = 0: no curvature pair is added
        "old_dirs": np.zeros((0, 2)), "old_stps": np.zeros((0, 2)), "ro": np.zeros(0),
    }  # fmt: skip


def test_failed_iteration_restarts_with_steepest_descent(poisoned_snapshot, caplog):
    x0, snap = poisoned_snapshot
    options = LBFGSOptions(max_iter=10)
    with caplog.at_level(logging.WARNING, logger="difftn.methods.optimize"):
        x, stop, rows = _run(_quadratic, x0, options, snapshot=snap)
    assert "iteration 1: line search took no step" in caplog.text
    assert "steepest-descent restart" in caplog.text
    # The failed iteration keeps the start point and leaves no curvature history.
    assert torch.equal(rows[0]["x"], x0) and rows[0]["loss"] == snap["cache_loss"]
    assert "d" not in rows[0]["snapshot"]
    losses = np.array([snap["cache_loss"]] + [row["loss"] for row in rows])
    assert np.all(np.diff(losses) <= 0)
    # The restart then converges (2-d quadratic): measured loss 8.4e-12 = 5.4e-13 of
    # the start after the 9 iterations that follow the failed one.
    assert losses[-1] < 5e-12 * losses[0]
    assert stop == "max_iter"
    assert torch.linalg.vector_norm(x) < 1e-5  # measured 2.6e-6


def test_a_restart_takes_torch_first_step(poisoned_snapshot):
    # first_step sizes a run's first iteration only; a restart after a failed
    # iteration (near a minimum) steps by lr * min(1, 1/|g|_1) |g| as torch does.
    x0, snap = poisoned_snapshot
    trials = []
    _run(_recording(trials), x0, LBFGSOptions(max_iter=2, first_step=0.1), snapshot=snap)
    g = torch.tensor(snap["cache_grad"])  # (1, 30); the start itself is cached, not evaluated
    expected = float(torch.linalg.vector_norm(g) / g.abs().sum())  # 0.968, against 0.1 |x0| = 0.141
    assert float(torch.linalg.vector_norm(trials[0] - x0)) == pytest.approx(expected, rel=1e-14)


def test_the_first_iteration_takes_first_step():
    trials = []
    x0 = torch.tensor([3.0, 4.0], dtype=torch.float64)
    _run(_recording(trials), x0, LBFGSOptions(max_iter=1, first_step=0.1))
    assert torch.equal(trials[0], x0)  # the start's evaluation
    assert float(torch.linalg.vector_norm(trials[1] - x0)) == pytest.approx(0.5, rel=1e-14)


def test_resume_after_a_failed_iteration_is_exact(poisoned_snapshot):
    # The reset state (no history) survives a snapshot: resuming after the
    # failed iteration repeats the uninterrupted run bit for bit.
    x0, snap = poisoned_snapshot
    options = LBFGSOptions(max_iter=6)
    x_whole, stop_whole, whole = _run(_quadratic, x0, options, snapshot=snap)
    after_failure = whole[0]
    x_resumed, stop_resumed, resumed = _run(_quadratic, after_failure["x"], options, snapshot=after_failure["snapshot"],
                                            start_iteration=1)  # fmt: skip
    assert stop_resumed == stop_whole
    assert [row["loss"] for row in resumed] == [row["loss"] for row in whole[1:]]
    assert torch.equal(x_resumed, x_whole)


def test_heisenberg_seed3_energies_never_rise(tmp_path):
    ctm = {"ctm_tol": 1e-10, "ctm_max_iter": 200, "grad_mode": "fixed_point"}
    # The 2x1 (bond) estimator, the signed random start and torch.optim's first
    # step (first_step=None): the run in which this failure was found.
    common = dict(seed=3, random_start="signed", **ctm, device="cpu", progress=False, estimator="bond",
                  first_step=None)  # fmt: skip
    state = heisenberg.optimize(2, 12, tmp_path / "s3.nc", max_iter=6, **common)
    energy = state.energy.values
    # Iteration 2 was accepted at -0.5977249 (a rise: the accepted point evaluated
    # again from a distant trial's environment), then, with the rise guard, failed
    # (no trial below -0.5979084 from chained warm starts).  With every trial
    # warm-started from the iterate's environment it finds a lower point.
    # Measured: -0.5979175 (9.1e-6 lower), then 2.4e-3 ... 1.4e-2 lower per iteration.
    assert energy[1] < energy[0] - 1e-6
    assert np.all(np.diff(energy) < 0)
    assert int(state.ctm_converged.values.min()) == 1
    # The energy is that of the physical fixed point: a cold-start CTMRG at the
    # final tensor agrees (measured 1.3e-13; 3.6e-15 after 8 iterations, 1.4e-13
    # at the iteration-1 tensor), the spurious fixed point was 1.8e-4 off.
    with torch.no_grad():
        A = torch.as_tensor(state.A.values)
        cold, _, _, info = evaluate(A, bond_hamiltonian(rotated=True, dtype=torch.float64), CTMRGOptions(chi=12, tol=ctm["ctm_tol"], max_iter=ctm["ctm_max_iter"]),
                                    estimator="bond")  # fmt: skip
    assert info.converged
    assert float(cold) == pytest.approx(energy[-1], rel=0, abs=1e-12)
    # Stopped after iteration 2 and resumed (the loaded point's environment is
    # the anchor of the next line search): measured identical bit for bit.
    part = tmp_path / "part.nc"
    heisenberg.optimize(2, 12, part, max_iter=2, **common)
    resumed = heisenberg.optimize(2, 12, part, resume=True, max_iter=6, **common)
    np.testing.assert_array_equal(resumed.energy.values, energy)
    np.testing.assert_array_equal(resumed.A.values, state.A.values)
    np.testing.assert_array_equal(resumed.magnetization.values, state.magnetization.values)


def test_line_search_trials_start_from_the_iterate_environment(monkeypatch):
    # Each evaluation's CTMRG starts from the current iterate's environment, not
    # from the previous trial's: chained warm starts kept the default study's
    # D = 3, chi = 30 run on a higher CTMRG fixed point after one long trial
    # (_Objective's docstring), and its line searches failed.
    starts = []

    def fake_evaluate(A, h, options, env=None, estimator="plaquette", J2=0.0):
        starts.append(env)
        info = type("Info", (), {"converged": True, "iterations": 1, "error": 0.0})()
        return (A**2).sum(), torch.zeros(()), f"env of {float(A[0])}", info

    monkeypatch.setattr(heisenberg, "evaluate", fake_evaluate)
    objective = heisenberg._Objective(h=None, ctm=None, env="initial")
    points = [torch.tensor([float(i)]) for i in range(4)]
    objective(points[0])  # the start point
    objective(points[1])  # two trials of the first line search
    objective(points[2])
    objective.use(points[2])  # accepted
    objective(points[3])
    assert starts == ["initial", "env of 0.0", "env of 0.0", "env of 2.0"]
