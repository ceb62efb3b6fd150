"""difftn's own L-BFGS (methods.lbfgs): interpolation, strong-Wolfe steps, and the iterates of torch.optim.LBFGS."""

import math

import pytest
import torch

from difftn.methods.lbfgs import cubic_minimizer, lbfgs_iteration, strong_wolfe
from difftn.methods.optimize import LBFGSOptions, minimize


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def test_cubic_minimizer_is_exact_on_a_cubic():
    # f = t^3 - 3 t: minimum at t = 1, seen from its values and slopes at 0 and 2 (either order).
    f, s = (lambda t: t**3 - 3 * t), (lambda t: 3 * t**2 - 3)
    assert cubic_minimizer(0.0, f(0.0), s(0.0), 2.0, f(2.0), s(2.0), 0.0, 2.0) == pytest.approx(1.0, abs=1e-14)
    assert cubic_minimizer(2.0, f(2.0), s(2.0), 0.0, f(0.0), s(0.0), 0.0, 2.0) == pytest.approx(1.0, abs=1e-14)
    # Clipped to the interval it is given; without a minimum (a line), its middle.
    assert cubic_minimizer(0.0, f(0.0), s(0.0), 2.0, f(2.0), s(2.0), 1.5, 2.0) == 1.5
    assert cubic_minimizer(0.0, 0.0, -1.0, 1.0, -1.0, -1.0, 2.0, 4.0) == 3.0


@pytest.mark.parametrize("first_trial", [1e-3, 0.7, 50.0])
def test_strong_wolfe_returns_a_strong_wolfe_step(first_trial):
    # phi(t) = f(x + t d) for f = sum(x^4) + |x|^2, from too short (extrapolation), near, and too long (zoom).
    x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    f = lambda y: float((y**4).sum() + (y**2).sum())  # noqa: E731
    grad = lambda y: 4 * y**3 + 2 * y  # noqa: E731
    d = -grad(x)

    def phi(t):
        y = x + t * d
        return f(y), grad(y), float(grad(y).dot(d))

    slope0 = float(grad(x).dot(d))
    t, value, g, evaluations = strong_wolfe(phi, first_trial, f(x), slope0, resolution=1e-12)
    assert t > 0 and evaluations <= 25
    assert value <= f(x) + 1e-4 * t * slope0  # sufficient decrease
    assert abs(float(g.dot(d))) <= 0.9 * abs(slope0)  # curvature (strong)
    assert value == f(x + t * d) and torch.equal(g, grad(x + t * d))


def test_strong_wolfe_takes_no_step_when_nothing_lies_below_the_start():
    # An "uphill" objective with a descent slope reported at 0: every trial is higher.
    t, value, g, evaluations = strong_wolfe(lambda t: (1.0 + t, None, 1.0), 1.0, 1.0, -1.0, resolution=1e-9,
                                            max_evals=5)  # fmt: skip
    assert (t, value, g) == (0.0, 1.0, None) and evaluations == 5


def test_the_iterates_are_those_of_torch_optim_lbfgs():
    # The same algorithm (N&W Alg. 7.4, 3.5, 3.6; torch's first step with
    # first_step=None), written independently: measured equal to 4e-13 over
    # 35 iterations of the Rosenbrock function from (-1.2, 1), where both reach
    # (1, 1) to 1e-6.  Rounding-level differences grow along the way, so the
    # tolerance is 1e-9.
    x0 = torch.tensor([-1.2, 1.0], dtype=torch.float64)
    ours = []
    minimize(_rosenbrock, x0, LBFGSOptions(max_iter=30, history_size=10, max_evals_per_iter=25),
             callback=lambda i, x, loss, g, snap: ours.append(x.clone()), progress=False)  # fmt: skip
    x = x0.clone().requires_grad_()
    optimizer = torch.optim.LBFGS([x], lr=1, max_iter=1, max_eval=25, history_size=10, tolerance_grad=1e-8,
                                  tolerance_change=1e-12, line_search_fn="strong_wolfe")  # fmt: skip

    def closure():
        optimizer.zero_grad()
        loss = _rosenbrock(x)
        loss.backward()
        return loss

    assert len(ours) == 30
    for iterate in ours:
        optimizer.step(closure)
        assert float((iterate - x.detach()).abs().max()) < 1e-9
    assert float((ours[-1] - 1).abs().max()) < 0.1  # on its way: (0.973, 0.949) after 30


def test_the_first_step_is_relative_to_the_parameters():
    x = torch.tensor([3.0, 4.0], dtype=torch.float64)  # |x| = 5
    trials = []

    def evaluate(y):
        trials.append(y.clone())
        return float((y**2).sum()), 2 * y

    state = {}
    lbfgs_iteration(evaluate, x, float((x**2).sum()), 2 * x, state, history_size=5, lr=1.0, first_step=0.1,
                    max_evals=20, tolerance_change=1e-12)  # fmt: skip
    assert float(torch.linalg.vector_norm(trials[0] - x)) == pytest.approx(0.5, rel=1e-14)
    assert state["n_iter"] == 1 and state["func_evals"] == len(trials)


def test_a_zero_start_or_gradient_takes_no_division_by_zero():
    # first_step is relative to |x|: at x = 0 torch's rule sizes the step instead;
    # a vanishing gradient is no descent direction: no step, no evaluation.
    def evaluate(y):
        return float(((y - 1) ** 2).sum()), 2 * (y - 1)

    x = torch.zeros(3, dtype=torch.float64)
    new_x, loss, _ = lbfgs_iteration(evaluate, x, 3.0, -2 * torch.ones(3, dtype=torch.float64), {}, history_size=5,
                                     lr=1.0, first_step=0.5, max_evals=20, tolerance_change=1e-12)  # fmt: skip
    assert loss < 3.0 and torch.all(new_x > 0)
    for start, first_step in ((x, None), (torch.ones(3, dtype=torch.float64), 0.5)):
        state = {}
        same, loss, _ = lbfgs_iteration(evaluate, start, 0.0, torch.zeros(3, dtype=torch.float64), state,
                                        history_size=5, lr=1.0, first_step=first_step, max_evals=20,
                                        tolerance_change=1e-12)  # fmt: skip
        assert same is start and loss == 0.0 and state["t"] == 0.0


def test_a_longer_history_is_cut_to_history_size():
    # A run resumed with a smaller history_size holds more pairs than it keeps.
    def evaluate(y):
        return float((y**2).sum()), 2 * y

    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    pair = torch.tensor([1.0, 0.0], dtype=torch.float64)
    state = {"d": -2 * x, "t": 0.1, "prev_flat_grad": 2 * x + 2 * pair, "n_iter": 5, "func_evals": 5,
             "old_dirs": [pair] * 5, "old_stps": [pair] * 5, "ro": [torch.tensor(1.0, dtype=torch.float64)] * 5,
             "H_diag": torch.tensor(1.0, dtype=torch.float64)}  # fmt: skip
    lbfgs_iteration(evaluate, x, 5.0, 2 * x, state, history_size=2, lr=1.0, first_step=None, max_evals=20,
                    tolerance_change=1e-12)  # fmt: skip
    assert len(state["old_dirs"]) == len(state["old_stps"]) == len(state["ro"]) == 2


def test_rosenbrock_minimum_is_reached():
    x, stop = minimize(_rosenbrock, torch.tensor([-1.2, 1.0], dtype=torch.float64),
                       LBFGSOptions(max_iter=100, first_step=0.1), progress=False)  # fmt: skip
    # measured 3.5e-7 from (1, 1) (a 1e-13 loss: the line search finds nothing lower)
    assert float((x - 1).abs().max()) < 1e-5 and math.isfinite(float(_rosenbrock(x)))
    assert stop in ("gradient", "no change", "line search failed")
