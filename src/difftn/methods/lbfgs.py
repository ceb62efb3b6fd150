"""One L-BFGS iteration: the two-loop direction and a strong-Wolfe line search.

Nocedal & Wright, *Numerical Optimization* (2nd ed.): the direction is their
Alg. 7.4 (two-loop recursion, initial inverse Hessian gamma I with
gamma = s.y / y.y, eq. 7.20); the step length is Alg. 3.5 (bracketing) and
Alg. 3.6 (zoom), with cubic interpolation (eq. 3.59) and the strong Wolfe
conditions for c1 = 1e-4, c2 = 0.9.

Written here rather than taken from ``torch.optim.LBFGS`` for two reasons:
building any torch.optim optimizer imports ``torch._dynamo`` (1.0-1.4 s, a
fifth of a whole D = 2 run), and the first step of a steepest-descent
iteration must be the caller's choice (``first_step``).  torch's rule,
``min(1, 1/|g|_1)``, is ~200x too short for an iPEPS tensor and costs the
first iteration four extra evaluations.

The state is a plain dict of tensors and floats (the driver saves it after
every iteration; restoring it repeats a run exactly).  Its keys keep the names
used by torch.optim.LBFGS and by earlier state files: ``d`` and ``t`` (last
direction and step), ``old_dirs`` / ``old_stps`` (gradient changes y and
steps s), ``ro`` (1 / y.s), ``H_diag`` (gamma), ``prev_flat_grad`` and
``prev_loss`` (at the start of the last iteration), ``n_iter``, ``func_evals``.
"""

import math

import torch

__all__ = ["cubic_minimizer", "strong_wolfe", "lbfgs_iteration"]

#: Curvature pairs with y.s at or below this are skipped (they would break positive definiteness).
MIN_CURVATURE = 1e-10


def cubic_minimizer(t1, f1, s1, t2, f2, s2, low, high):
    """Minimizer in [low, high] of the cubic through (t, f) with slopes s at t1 and t2 (N&W eq. 3.59).

    Falls back to the middle of [low, high] when the cubic has no minimum
    there (negative discriminant, or non-finite values).
    """
    d1 = s1 + s2 - 3 * (f1 - f2) / (t1 - t2)
    discriminant = d1 * d1 - s1 * s2
    if discriminant >= 0:
        d2 = math.copysign(math.sqrt(discriminant), t2 - t1)
        denominator = s2 - s1 + 2 * d2
        if denominator != 0:
            t = t2 - (t2 - t1) * (s2 + d2 - d1) / denominator
            if math.isfinite(t):
                return min(max(t, low), high)
    return 0.5 * (low + high)


def strong_wolfe(phi, t, f0, slope0, *, resolution, c1=1e-4, c2=0.9, max_evals=25):
    """Step length t > 0 meeting the strong Wolfe conditions, or the lowest trial.

    Parameters
    ----------
    phi : callable
        ``phi(t) -> (f, g, slope)``: loss, gradient and directional derivative
        at step t along the search direction.
    t : float
        First trial step.
    f0, slope0 : float
        Loss and directional derivative (< 0) at t = 0.
    resolution : float
        Zooming stops when the bracket is narrower than this (in t).
    max_evals : int
        Cap on evaluations of ``phi``.

    Returns
    -------
    t, f, g, evaluations
        The accepted step with its loss and gradient.  When no trial meets the
        Wolfe conditions, the trial of lowest loss; when none lies below f0,
        ``t = 0`` with ``f = f0`` and ``g = None`` (no step).
    """
    evaluations = 0
    best = (0.0, f0, None)

    def trial(step):
        nonlocal evaluations, best
        f, g, slope = phi(step)
        evaluations += 1
        if f < best[1]:
            best = (step, f, g)
        return (step, f, g, slope)

    def sufficient_decrease(point):
        return point[1] <= f0 + c1 * point[0] * slope0

    def flat_enough(point):
        return abs(point[3]) <= -c2 * slope0

    previous = (0.0, f0, None, slope0)
    low = high = None
    # Alg. 3.5: extrapolate until a bracket [low, high] holds a Wolfe point.
    while evaluations < max_evals:
        current = trial(t)
        if not sufficient_decrease(current) or (evaluations > 1 and current[1] >= previous[1]):
            low, high = previous, current
            break
        if flat_enough(current):
            return current[0], current[1], current[2], evaluations
        if current[3] >= 0:
            low, high = current, previous
            break
        t = cubic_minimizer(previous[0], previous[1], previous[3], t, current[1], current[3],
                            t + 0.01 * (t - previous[0]), 10 * t)  # fmt: skip
        previous = current
    # Alg. 3.6: shrink the bracket; low is always the lowest sufficient-decrease point so far.
    while low is not None and evaluations < max_evals and abs(high[0] - low[0]) > resolution:
        a, b = sorted((low[0], high[0]))
        margin = 0.1 * (b - a)  # keep trials off the ends, so the bracket shrinks by >= 10%
        t = cubic_minimizer(low[0], low[1], low[3], high[0], high[1], high[3], a + margin, b - margin)
        current = trial(t)
        if not sufficient_decrease(current) or current[1] >= low[1]:
            high = current
        else:
            if flat_enough(current):
                return current[0], current[1], current[2], evaluations
            if current[3] * (high[0] - low[0]) >= 0:
                high = low
            low = current
    return best[0], best[1], best[2], evaluations


def _two_loop(grad, state):
    """-H grad by the two-loop recursion over the stored pairs (N&W Alg. 7.4)."""
    q = -grad
    alphas = []
    for y, s, rho in zip(reversed(state["old_dirs"]), reversed(state["old_stps"]), reversed(state["ro"])):
        alpha = rho * s.dot(q)
        alphas.append(alpha)
        q = q - alpha * y
    r = q * state["H_diag"]
    for y, s, rho, alpha in zip(state["old_dirs"], state["old_stps"], state["ro"], reversed(alphas)):
        beta = rho * y.dot(r)
        r = r + (alpha - beta) * s
    return r


def lbfgs_iteration(evaluate, x, loss, grad, state, *, history_size, lr, first_step, max_evals, tolerance_change):
    """One L-BFGS iteration from ``x``, where ``loss`` and ``grad`` were evaluated.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(x) -> (loss, grad)`` with ``loss`` a float.
    x, grad : torch.Tensor
        Flat parameters and gradient.
    state : dict
        Optimizer state (module docstring); updated in place.  Empty: this is
        a steepest-descent iteration.
    history_size : int
        Number of curvature pairs kept.
    lr : float
        First trial step of an iteration with curvature history.
    first_step : float or None
        First trial step of a steepest-descent iteration, as the step's norm
        relative to ``|x|``; None (or x = 0): ``lr * min(1, 1 / |grad|_1)``
        (torch's rule).
    max_evals : int
        Cap on evaluations in the line search.
    tolerance_change : float
        No step is taken along a direction whose slope is above ``-tolerance_change``.

    Returns
    -------
    x, loss, grad
        The new point and its evaluation; the start itself when no step was taken.
    """
    if "d" not in state:
        state.update(old_dirs=[], old_stps=[], ro=[], H_diag=torch.ones((), dtype=grad.dtype, device=grad.device),
                     n_iter=0, func_evals=0)  # fmt: skip
        d = -grad
        x_norm, d_norm = float(torch.linalg.vector_norm(x)), float(torch.linalg.vector_norm(d))
        grad_l1 = float(grad.abs().sum())
        if first_step is not None and x_norm > 0 and d_norm > 0:
            t = first_step * x_norm / d_norm
        else:  # torch's rule; at x = 0 there is no scale to be relative to
            t = lr * min(1.0, 1.0 / grad_l1) if grad_l1 > 0 else lr
    else:
        y = grad - state["prev_flat_grad"]
        s = state["d"] * state["t"]
        ys = y.dot(s)
        if ys > MIN_CURVATURE:
            while len(state["old_dirs"]) >= history_size:  # ">": a run resumed with a smaller history_size
                for key in ("old_dirs", "old_stps", "ro"):
                    state[key].pop(0)
            state["old_dirs"].append(y)
            state["old_stps"].append(s)
            state["ro"].append(1.0 / ys)
            state["H_diag"] = ys / y.dot(y)
        d = _two_loop(grad, state)
        t = lr
    state.update(d=d, t=t, prev_flat_grad=grad.clone(), prev_loss=loss, n_iter=state["n_iter"] + 1)
    slope0 = float(grad.dot(d))
    if not slope0 < -tolerance_change:  # not a descent direction (or a vanishing one): no step
        state["t"] = 0.0
        return x, loss, grad

    def phi(step):
        f, g = evaluate(x + step * d)
        return f, g, float(g.dot(d))

    resolution = 1e-9 / max(float(d.abs().max()), 1e-300)
    t, f, g, evaluations = strong_wolfe(phi, t, loss, slope0, resolution=resolution, max_evals=max_evals)
    state["t"] = t
    state["func_evals"] += evaluations
    if t == 0.0:
        return x, loss, grad
    return x + t * d, f, g
