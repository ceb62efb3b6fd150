"""Trust-region Newton-CG (difftn.methods.optimize.minimize_newton): convergence, monotone loss, exact resume."""

import numpy as np
import pytest
import torch

from difftn.contract.ctmrg import CTMRGOptions
from difftn.methods.ipeps import evaluate
from difftn.methods.optimize import NewtonOptions, minimize_newton, steihaug_cg
from difftn.models.heisenberg import bond_hamiltonian

F64 = torch.float64
# Best known D = 2 single-site C4v energy (Hasik, Poilblanc, Becca, SciPost Phys. 10, 012 (2021); tests/test_optimize.py).
D2_ENERGY = -0.6602310934799582


def _rosenbrock(x):
    """Extended Rosenbrock function: minimum 0 at x = (1, ..., 1)."""
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def _run(objective, x0, options, **kwargs):
    rows = []

    def callback(iteration, x, loss, grad_max, snap):
        rows.append({"iteration": iteration, "x": x.clone(), "loss": loss, "grad_max": grad_max, "snapshot": snap})

    x, stop = minimize_newton(objective, x0, options, callback=callback, progress=False, **kwargs)
    return x, stop, rows


def test_steihaug_cg_solves_a_positive_definite_system_inside_the_region():
    gen = torch.Generator().manual_seed(1)
    M = torch.randn(5, 5, generator=gen, dtype=F64)
    H = M @ M.T + 5 * torch.eye(5, dtype=F64)
    g = torch.randn(5, generator=gen, dtype=F64)
    p, Hp, products, interior = steihaug_cg(g, lambda v: H @ v, radius=1e3, tol=1e-13, max_iter=50)
    assert interior and products <= 6  # CG: at most n = 5 products in exact arithmetic (+1 for rounding)
    torch.testing.assert_close(p, -torch.linalg.solve(H, g), rtol=0, atol=1e-15)  # measured 8.3e-17, 5 products
    torch.testing.assert_close(Hp, H @ p, rtol=0, atol=1e-12)
    # A small region: the step ends on its boundary.
    p, _, _, interior = steihaug_cg(g, lambda v: H @ v, radius=1e-2, tol=1e-13, max_iter=50)
    assert not interior and float(torch.linalg.vector_norm(p)) == pytest.approx(1e-2, rel=1e-12)
    # Negative curvature: along the first direction (-g) to the boundary.
    p, _, products, interior = steihaug_cg(g, lambda v: -v, radius=0.5, tol=1e-13, max_iter=50)
    assert not interior and products == 1
    torch.testing.assert_close(p, -0.5 * g / torch.linalg.vector_norm(g), rtol=0, atol=1e-15)


def test_rosenbrock_converges_and_never_rises():
    x0 = torch.tensor([-1.2, 1.0, -0.5, 0.8], dtype=F64)
    x, stop, rows = _run(_rosenbrock, x0, NewtonOptions(max_iter=100))
    losses = np.array([float(_rosenbrock(x0))] + [row["loss"] for row in rows])
    # Accepted steps decrease the loss (rejected ones keep it): measured strictly monotone.
    assert np.all(np.diff(losses) <= 0)
    assert stop in ("gradient", "no change")
    # Measured: 52 iterations, loss 1.0e-16, max |x - 1| = 2.8e-9 ("no change").
    assert len(rows) < 80
    assert rows[-1]["loss"] < 1e-14
    torch.testing.assert_close(x, torch.ones(4, dtype=F64), rtol=0, atol=3e-8)


def test_resume_equals_uninterrupted_run():
    x0 = torch.tensor([-1.2, 1.0, -0.5, 0.8], dtype=F64)
    options = NewtonOptions(max_iter=30)
    x_whole, stop_whole, whole = _run(_rosenbrock, x0, options)
    cut = whole[9]  # stopped after iteration 10 (rejections and radius changes happen before and after)
    x_res, stop_res, resumed = _run(_rosenbrock, cut["x"], options, snapshot=cut["snapshot"], start_iteration=10)
    assert stop_res == stop_whole
    assert [row["iteration"] for row in resumed] == [row["iteration"] for row in whole[10:]]
    # Measured identical bit for bit (the objective is a function of x alone).
    assert [row["loss"] for row in resumed] == [row["loss"] for row in whole[10:]]
    assert torch.equal(x_res, x_whole)
    # The resumed run rebuilds the graph at the cut: one evaluation more, the same products.
    assert resumed[-1]["snapshot"]["evaluations"] == whole[-1]["snapshot"]["evaluations"] + 1
    assert resumed[-1]["snapshot"]["hvps"] == whole[-1]["snapshot"]["hvps"]


def test_rejected_steps_keep_the_point():
    # From (0, 0) the Newton step of Rosenbrock is p = (1, 0) (g = (-2, 0),
    # H = diag(2, 200)), inside the radius 50, and f(1, 0) = 100 > f(0, 0) = 1:
    # rejected, reported with the unchanged point and loss, radius 0.25 |p|.
    x0 = torch.zeros(2, dtype=F64)
    _, _, rows = _run(_rosenbrock, x0, NewtonOptions(max_iter=3, trust_radius=50.0))
    assert torch.equal(rows[0]["x"], x0) and rows[0]["loss"] == 1.0
    assert rows[0]["snapshot"]["trust_radius"] == 0.25
    # start + trial; CG needs one product (g is an eigenvector of H)
    assert rows[0]["snapshot"]["evaluations"] == 2 and rows[0]["snapshot"]["hvps"] == 1
    assert rows[1]["loss"] < 1.0  # the next step, inside the smaller region, is accepted


@pytest.mark.parametrize("field, value", [("max_iter", 0), ("cg_max_iter", 0), ("eta", 0.5), ("trust_radius", 1e3)])
def test_bad_newton_options_rejected(field, value):
    with pytest.raises(ValueError, match=field if field != "trust_radius" else "trust radii"):
        NewtonOptions(**{field: value})


def test_d2_ipeps_reaches_the_best_known_energy():
    # D = 2, chi = 8, CTMRG unrolled (twice differentiable), from a seeded random tensor.
    options = CTMRGOptions(chi=8, tol=1e-10, max_iter=200, grad_mode="unrolled")
    h = bond_hamiltonian(rotated=True, dtype=F64)
    A0 = torch.randn(2, 2, 2, 2, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    _, stop, rows = _run(lambda A: evaluate(A, h, options)[0], A0, NewtonOptions(max_iter=14))
    energy = np.array([row["loss"] for row in rows])
    assert np.all(np.diff(energy) <= 0)  # measured strictly decreasing
    # Measured: stop "gradient" after 10 iterations (11 evaluations, 46 Hessian-vector
    # products), max|grad| 2.3e-11, smallest decrease 9e-12, E - E_best = 4.2e-11 at
    # chi = 8 (L-BFGS, fixed-point gradients, same start and chi: 31
    # iterations to -0.660231093437671, max|grad| 1.9e-8).
    assert stop == "gradient"
    assert abs(energy[-1] - D2_ENERGY) < 4e-10
