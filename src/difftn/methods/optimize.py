"""L-BFGS and trust-region Newton-CG drivers with a snapshot after every iteration and exact resume.

``minimize`` (L-BFGS) is described here; ``minimize_newton`` (truncated
Newton with Steihaug-CG on Hessian-vector products, ``NewtonOptions``) keeps
the same conventions (callback, snapshot, resume, no accepted loss rise) and
is described in its docstring.

The iteration itself (two-loop direction, strong-Wolfe line search) is
``methods.lbfgs``; this driver runs it one iteration at a time, so that the
complete optimizer state (curvature pairs, last direction and step, the last
evaluation) can be handed to a callback after every iteration and restored
later: a resumed run repeats the uninterrupted one operation by operation.

The line search returns the loss and gradient of the point it accepts, so that
point is not evaluated again: an objective that is not a pure function of the
parameters (e.g. one warm-started from its previous evaluation) could give
another value there.

An iteration never raises the loss: the line search accepts a point of
sufficient decrease, else its lowest trial below the start, else no step.  An
iteration without a step fails: the curvature history is dropped, so that the
next iteration is a steepest-descent restart.  If a steepest-descent iteration
fails, ``minimize`` stops with ``"line search failed"``.
"""

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .hessian import hessian_operator
from .lbfgs import lbfgs_iteration

__all__ = ["LINE_SEARCH", "LBFGSOptions", "minimize", "NewtonOptions", "steihaug_cg", "minimize_newton"]

log = logging.getLogger(__name__)

#: The line search used (reported in result files).
LINE_SEARCH = "strong_wolfe"


@dataclass(frozen=True)
class LBFGSOptions:
    """Options of the L-BFGS driver.

    Attributes
    ----------
    max_iter : int
        Maximal number of L-BFGS iterations (in total, across resumes).
    history_size : int
        Number of stored curvature pairs.
    lr : float
        Initial step length tried by the line search (1 is natural for L-BFGS).
    first_step : float or None
        First trial step of a run's first iteration (a steepest-descent one),
        as the norm of the step relative to the norm of the parameters; None:
        ``lr * min(1, 1 / |gradient|_1)`` (torch.optim's rule).  A restart
        after a failed iteration, near a minimum, always takes torch's rule.
    max_evals_per_iter : int
        Cap on objective evaluations in one line search.
    tolerance_grad : float
        Stop when max |gradient| falls below it.
    tolerance_change : float
        Stop when the loss changes by less than it in one iteration.
    """

    max_iter: int = 100
    history_size: int = 100
    lr: float = 1.0
    first_step: float | None = None
    max_evals_per_iter: int = 20
    tolerance_grad: float = 1e-8
    tolerance_change: float = 1e-12

    def __post_init__(self):
        for name in ("max_iter", "history_size", "max_evals_per_iter"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"L-BFGS {name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("lr", "tolerance_grad", "tolerance_change"):
            if not getattr(self, name) > 0:
                raise ValueError(f"L-BFGS {name} must be > 0, got {getattr(self, name)!r}")
        if self.first_step is not None and not self.first_step > 0:
            raise ValueError(f"L-BFGS first_step must be > 0 or None, got {self.first_step!r}")


_SCALARS = ("func_evals", "n_iter", "t", "H_diag", "prev_loss")


def _snapshot(state, cache) -> dict:
    """Optimizer state and last evaluation as numpy arrays (float64) and floats.

    Copies: a caller may keep the snapshot to write it later.
    """
    array = lambda t: t.detach().cpu().numpy().copy()  # noqa: E731
    snap = {"cache_x": array(cache["x"].reshape(-1)), "cache_grad": array(cache["grad"].reshape(-1)),
            "cache_loss": float(cache["loss"])}  # fmt: skip
    if "d" not in state:
        return snap
    for key in _SCALARS:
        snap[key] = float(state[key])
    snap["d"] = array(state["d"])
    snap["prev_flat_grad"] = array(state["prev_flat_grad"])
    n = state["d"].numel()
    stack = lambda vs: np.stack([array(v) for v in vs]) if vs else np.zeros((0, n))  # noqa: E731
    snap["old_dirs"] = stack(state["old_dirs"])
    snap["old_stps"] = stack(state["old_stps"])
    snap["ro"] = np.array([float(r) for r in state["ro"]])
    return snap


def _restore(state, cache, snap, like: torch.Tensor):
    tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=like.dtype, device=like.device)  # noqa: E731
    cache.update(x=tensor(snap["cache_x"]).reshape(like.shape), grad=tensor(snap["cache_grad"]).reshape(like.shape),
                 loss=float(snap["cache_loss"]))  # fmt: skip
    if "d" not in snap:
        return
    state["func_evals"] = int(snap["func_evals"])
    state["n_iter"] = int(snap["n_iter"])
    state["t"] = float(snap["t"])
    state["H_diag"] = tensor(snap["H_diag"])
    state["prev_loss"] = float(snap["prev_loss"])
    state["d"] = tensor(snap["d"])
    state["prev_flat_grad"] = tensor(snap["prev_flat_grad"])
    state["old_dirs"] = [tensor(v) for v in snap["old_dirs"]]
    state["old_stps"] = [tensor(v) for v in snap["old_stps"]]
    state["ro"] = [tensor(r) for r in snap["ro"]]


def minimize(objective, x0: torch.Tensor, options: LBFGSOptions, *, start_iteration=0, snapshot=None,
             callback=None, progress=True):  # fmt: skip
    """Minimize ``objective(x) -> scalar tensor`` by L-BFGS from ``x0``.

    Parameters
    ----------
    objective : callable
        Returns the loss as a differentiable scalar tensor.
    x0 : torch.Tensor
        Starting parameters (copied).
    options : LBFGSOptions
    start_iteration : int
        Iterations already done (when resuming).
    snapshot : dict, optional
        Optimizer state saved by an earlier run's callback; resumes exactly.
    callback : callable, optional
        ``callback(iteration, x, loss, grad_max, snapshot)`` after every
        iteration; use it to save state.
    progress : bool
        Show a progress bar with the loss and max |gradient|.

    Returns
    -------
    x : torch.Tensor
        Final parameters (detached).
    stop_reason : str
        ``"gradient"``, ``"no change"``, ``"max_iter"`` or ``"line search failed"``
        (a steepest-descent iteration found no point below its start; ``x`` is
        then that start point).

    Notes
    -----
    A failed iteration (no step; see the module docstring) still counts as an
    iteration and is reported to ``callback`` with the start point, its loss
    and gradient, and the reset optimizer state (the snapshot holds no
    curvature history).
    """
    shape = x0.shape
    cache = {}  # the last evaluation: x, grad (shaped like x0), loss (float)

    def evaluate(flat_x):
        x = flat_x.detach().reshape(shape)
        if cache and torch.equal(cache["x"], x):
            return cache["loss"], cache["grad"].reshape(-1)
        x = x.clone().requires_grad_()
        loss = objective(x)
        (grad,) = torch.autograd.grad(loss, x)
        loss = float(loss.detach())
        if not (math.isfinite(loss) and torch.isfinite(grad).all()):
            raise FloatingPointError(f"objective or gradient not finite at loss={loss}")
        cache.update(x=x.detach(), grad=grad.detach(), loss=loss)
        return loss, grad.reshape(-1)

    state = {}
    if snapshot is not None:
        _restore(state, cache, snapshot, x0)
        x = cache["x"].reshape(-1).clone()
    else:
        x = x0.detach().reshape(-1).clone()
    loss, grad = evaluate(x)
    previous = math.inf if snapshot is None else float(snapshot["cache_loss"])
    bar = tqdm(total=options.max_iter, initial=start_iteration, disable=not progress, desc="L-BFGS", unit="it")
    stop = "max_iter"
    for iteration in range(start_iteration + 1, options.max_iter + 1):
        start_x = x
        steepest = "d" not in state  # no curvature history: a steepest-descent step
        converged = float(grad.abs().max()) <= options.tolerance_grad  # no step at a point that meets it
        if not converged:
            x, loss, grad = lbfgs_iteration(evaluate, x, loss, grad, state, history_size=options.history_size,
                                            lr=options.lr,
                                            first_step=options.first_step if iteration == 1 else None,
                                            max_evals=options.max_evals_per_iter,
                                            tolerance_change=options.tolerance_change)  # fmt: skip
        failed = not converged and x is start_x  # no step: no trial below the start
        if failed:
            log.warning("iteration %d: line search took no step (loss %.12f); %s", iteration, loss,
                        "stopping" if steepest else "dropped the curvature history (steepest-descent restart)")
            state.clear()
        # The snapshot's evaluation is the current point's, whatever the line search evaluated last.
        cache.update(x=x.reshape(shape), grad=grad.reshape(shape), loss=loss)
        grad_max = float(grad.abs().max())
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.10f}", grad=f"{grad_max:.1e}")
        log.info("iteration %d: loss %.12f, max|grad| %.3e", iteration, loss, grad_max)
        if callback is not None:
            callback(iteration, x.reshape(shape), loss, grad_max, _snapshot(state, cache))
        if failed:
            if steepest:
                stop = "line search failed"
                break
            continue
        if grad_max <= options.tolerance_grad:
            stop = "gradient"
            break
        if abs(previous - loss) < options.tolerance_change:
            stop = "no change"
            break
        previous = loss
    bar.close()
    return x.reshape(shape).detach(), stop


# --------------------------------------------------------------------------
# Truncated Newton: Newton-CG in a trust region (Steihaug-CG)


@dataclass(frozen=True)
class NewtonOptions:
    """Options of the trust-region Newton-CG driver ``minimize_newton``.

    Attributes
    ----------
    max_iter : int
        Maximal number of outer (trust-region) iterations, in total across
        resumes; a rejected step counts as one.
    cg_max_iter : int
        Cap on conjugate-gradient iterations (= Hessian-vector products) per
        outer iteration.
    trust_radius : float
        Initial trust radius (Euclidean norm of the step).
    max_trust_radius : float
        Upper bound of the trust radius.
    min_trust_radius : float
        Stop with ``"trust region collapsed"`` when the radius falls below it
        (repeated rejections: no measurable decrease is left).
    eta : float
        A step is accepted when actual / predicted decrease > eta (0 <= eta < 1/4).
    tolerance_grad : float
        Stop when max |gradient| falls below it.
    tolerance_change : float
        Stop when an accepted step changes the loss by less than it, or when
        a full Newton step (inside the region) predicts a decrease below it.
    """

    max_iter: int = 100
    cg_max_iter: int = 50
    trust_radius: float = 1.0
    max_trust_radius: float = 100.0
    min_trust_radius: float = 1e-12
    eta: float = 0.1
    tolerance_grad: float = 1e-8
    tolerance_change: float = 1e-12

    def __post_init__(self):
        for name in ("max_iter", "cg_max_iter"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"Newton {name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("trust_radius", "max_trust_radius", "min_trust_radius", "tolerance_grad", "tolerance_change"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Newton {name} must be > 0, got {getattr(self, name)!r}")
        if not self.min_trust_radius <= self.trust_radius <= self.max_trust_radius:
            raise ValueError(f"Newton trust radii must satisfy min <= initial <= max, got {self.min_trust_radius!r}, "
                             f"{self.trust_radius!r}, {self.max_trust_radius!r}")  # fmt: skip
        if not 0 <= self.eta < 0.25:
            raise ValueError(f"Newton eta must be in [0, 0.25), got {self.eta!r}")


def _to_boundary(z, d, radius):
    """tau >= 0 with |z + tau d| = radius (|z| <= radius)."""
    dd, zd, zz = float(d @ d), float(z @ d), float(z @ z)
    return (-zd + math.sqrt(max(zd * zd + dd * (radius * radius - zz), 0.0))) / dd


def steihaug_cg(g: torch.Tensor, matvec, radius: float, tol: float, max_iter: int):
    """Approximate minimizer of m(p) = g.p + p.Hp/2 in |p| <= radius (Steihaug-CG).

    Nocedal & Wright, Numerical Optimization (2nd ed.), Alg. 7.2: conjugate
    gradients on H p = -g from p = 0, stopped at the residual ``tol``, at the
    trust-region boundary, or along a direction of non-positive curvature
    (followed to the boundary).  Vectors are flat.

    Returns
    -------
    p : torch.Tensor
        The step.
    Hp : torch.Tensor
        H p, accumulated without an extra product.
    products : int
        Hessian-vector products spent.
    interior : bool
        The step ended inside the region (a converged or capped CG solve).
    """
    z, Hz = torch.zeros_like(g), torch.zeros_like(g)
    r = g.clone()
    d = -r
    rr = float(r @ r)
    if math.sqrt(rr) <= tol:
        return z, Hz, 0, True
    products = 0
    for _ in range(max_iter):
        Hd = matvec(d)
        products += 1
        dHd = float(d @ Hd)
        if dHd <= 0:  # non-positive curvature: to the boundary along d
            tau = _to_boundary(z, d, radius)
            return z + tau * d, Hz + tau * Hd, products, False
        alpha = rr / dHd
        if float(torch.linalg.vector_norm(z + alpha * d)) >= radius:
            tau = _to_boundary(z, d, radius)
            return z + tau * d, Hz + tau * Hd, products, False
        z, Hz = z + alpha * d, Hz + alpha * Hd
        r = r + alpha * Hd
        rr_new = float(r @ r)
        if math.sqrt(rr_new) <= tol:
            break
        d = -r + (rr_new / rr) * d
        rr = rr_new
    return z, Hz, products, True


def minimize_newton(objective, x0: torch.Tensor, options: NewtonOptions, *, start_iteration=0, snapshot=None,
                    callback=None, progress=True):  # fmt: skip
    """Minimize ``objective(x) -> scalar tensor`` by trust-region Newton-CG from ``x0``.

    Each iteration solves the trust-region subproblem with ``steihaug_cg``
    using Hessian-vector products by double backward
    (``difftn.methods.hessian.hessian_operator``; the objective must be twice
    differentiable: CTMRG in the ``"unrolled"`` or ``"checkpoint"`` gradient
    mode, not ``"fixed_point"``), to the relative residual
    min(0.5, sqrt(|g|)) (Nocedal & Wright Alg. 7.1, superlinear forcing
    sequence), then evaluates the objective at x + p.  The step is accepted
    when the actual decrease exceeds ``eta`` times the model's predicted
    decrease, which is positive, so the loss never rises (a rise, or a
    non-finite trial, is rejected); the radius shrinks on a poor ratio and
    grows on a good step that reached the boundary (Nocedal & Wright
    Alg. 4.1).  Each evaluation records the graph of the first backward, so
    the evaluation of an accepted trial serves the next iteration's products.

    Parameters and callback are those of ``minimize``: ``callback(iteration,
    x, loss, grad_max, snapshot)`` after every iteration (a rejected one
    reports the unchanged point), ``snapshot`` and ``start_iteration``
    resume.  The snapshot holds the point, its loss and gradient, the trust
    radius, the previous loss, and the counters ``evaluations`` and
    ``hvps`` (objective evaluations with their gradient, Hessian-vector
    products; cumulative).  A resumed run evaluates the objective at the
    snapshot's point again (to rebuild the graph), so it repeats the
    uninterrupted run exactly when the objective is a function of x alone
    (one evaluation more in ``evaluations``).

    Returns
    -------
    x : torch.Tensor
        Final parameters (detached).
    stop_reason : str
        ``"gradient"``, ``"no change"``, ``"max_iter"`` or ``"trust region collapsed"``.
    """
    shape = x0.shape
    counts = {"evaluations": 0, "hvps": 0}

    def evaluate(x):
        loss, g, matvec = hessian_operator(objective, x.reshape(shape))
        counts["evaluations"] += 1

        def flat_matvec(v):
            counts["hvps"] += 1
            return matvec(v.reshape(shape)).reshape(-1)

        return float(loss), g.reshape(-1), flat_matvec

    def as_tensor(a):
        return torch.as_tensor(np.asarray(a), dtype=x0.dtype, device=x0.device)

    if snapshot is None:
        x = x0.detach().reshape(-1).clone()
        radius, previous = options.trust_radius, math.inf
    else:
        x = as_tensor(snapshot["cache_x"]).reshape(-1)
        radius, previous = float(snapshot["trust_radius"]), float(snapshot["prev_loss"])
        counts.update(evaluations=int(snapshot["evaluations"]), hvps=int(snapshot["hvps"]))
    loss, g, matvec = evaluate(x)
    if not (math.isfinite(loss) and torch.isfinite(g).all()):
        raise FloatingPointError(f"objective or gradient not finite at the start point (loss={loss})")

    def snap():
        return {"cache_x": x.cpu().numpy().copy(), "cache_grad": g.cpu().numpy().copy(), "cache_loss": loss,
                "trust_radius": radius, "prev_loss": previous, **{k: float(v) for k, v in counts.items()}}  # fmt: skip

    bar = tqdm(total=options.max_iter, initial=start_iteration, disable=not progress, desc="Newton-CG", unit="it")
    stop = "max_iter"
    for iteration in range(start_iteration + 1, options.max_iter + 1):
        gnorm = float(torch.linalg.vector_norm(g))
        if float(g.abs().max()) <= options.tolerance_grad:
            stop = "gradient"
            break
        tol = min(0.5, math.sqrt(gnorm)) * gnorm
        p, Hp, _, interior = steihaug_cg(g, matvec, radius, tol, options.cg_max_iter)
        predicted = -(float(g @ p) + 0.5 * float(p @ Hp))
        pnorm = float(torch.linalg.vector_norm(p))
        if interior and predicted < options.tolerance_change:
            log.info("iteration %d: Newton step predicts a decrease of %.1e only; stopping", iteration, predicted)
            stop = "no change"
            break
        trial = x + p
        t_loss, t_g, t_matvec = evaluate(trial)
        finite = math.isfinite(t_loss) and bool(torch.isfinite(t_g).all())
        rho = (loss - t_loss) / predicted if finite and predicted > 0 else -math.inf
        accepted = rho > options.eta
        if rho < 0.25:
            radius = 0.25 * min(radius, pnorm)
        elif rho > 0.75 and not interior:
            radius = min(2 * radius, options.max_trust_radius)
        if accepted:
            previous = loss
            x, loss, g, matvec = trial, t_loss, t_g, t_matvec
        else:
            log.info("iteration %d: step rejected (loss %.12f -> %.12f, ratio %.2f); trust radius %.2e", iteration,
                     loss, t_loss, rho, radius)  # fmt: skip
        del t_matvec
        grad_max = float(g.abs().max())
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.10f}", grad=f"{grad_max:.1e}", radius=f"{radius:.1e}")
        log.info("iteration %d: loss %.12f, max|grad| %.3e, trust radius %.2e", iteration, loss, grad_max, radius)
        if callback is not None:
            callback(iteration, x.reshape(shape).clone(), loss, grad_max, snap())
        if accepted and grad_max <= options.tolerance_grad:
            stop = "gradient"
            break
        if accepted and abs(previous - loss) < options.tolerance_change:
            stop = "no change"
            break
        if radius < options.min_trust_radius:
            stop = "trust region collapsed"
            break
    bar.close()
    return x.reshape(shape).clone(), stop
