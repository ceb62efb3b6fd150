"""L-BFGS driver with a snapshot after every iteration and exact resume.

Wraps ``torch.optim.LBFGS`` (Nocedal & Wright, Numerical Optimization,
Alg. 7.4/7.5) with the strong-Wolfe line search (``line_search_fn=
"strong_wolfe"``), one L-BFGS iteration per ``step`` call, so that the
complete optimizer state (curvature pairs, last direction and step, the last
evaluation) can be handed to a callback after every iteration and restored
later: a resumed run repeats the uninterrupted one operation by operation.

The objective is evaluated through a cache keyed on the parameters, so the
evaluation at the accepted point of the line search is reused by the next
iteration instead of recomputed.

An iteration never raises the loss.  torch's strong-Wolfe search returns its
lowest trial point, which is the start point (step 0) when no trial lies
below it; and an objective that is not a pure function of the parameters
(e.g. one warm-started from its previous evaluation) can give a different
value when the accepted point is evaluated again.  So every iteration is
checked: if it made no step, or its loss lies above the start loss by more
than ``max(tolerance_change, 1e-12 |loss|)`` (above rounding), the start
point and its evaluation are restored and the curvature history is dropped,
so that the next iteration is a steepest-descent restart.  If a
steepest-descent iteration fails in the same way, ``minimize`` stops with
``"line search failed"``.
"""

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

__all__ = ["LINE_SEARCH", "LBFGSOptions", "minimize"]

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


_SCALARS = ("func_evals", "n_iter", "t", "H_diag", "prev_loss")


def _snapshot(opt, cache) -> dict:
    """Optimizer state and last evaluation as numpy arrays (float64) and floats."""
    state = opt.state[opt._params[0]]
    snap = {"cache_x": cache["x"].reshape(-1).cpu().numpy(), "cache_grad": cache["grad"].reshape(-1).cpu().numpy(),
            "cache_loss": float(cache["loss"])}  # fmt: skip
    if "d" not in state:
        return snap
    for key in _SCALARS:
        snap[key] = float(state[key])
    snap["d"] = state["d"].cpu().numpy()
    snap["prev_flat_grad"] = state["prev_flat_grad"].cpu().numpy()
    n = state["d"].numel()
    stack = lambda vs: np.stack([v.cpu().numpy() for v in vs]) if vs else np.zeros((0, n))  # noqa: E731
    snap["old_dirs"] = stack(state["old_dirs"])
    snap["old_stps"] = stack(state["old_stps"])
    snap["ro"] = np.array([float(r) for r in state["ro"]])
    return snap


def _restore(opt, cache, snap, like: torch.Tensor):
    tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=like.dtype, device=like.device)  # noqa: E731
    cache.update(x=tensor(snap["cache_x"]).reshape(like.shape), grad=tensor(snap["cache_grad"]).reshape(like.shape),
                 loss=tensor(snap["cache_loss"]))  # fmt: skip
    if "d" not in snap:
        return
    state = opt.state[opt._params[0]]
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
    A failed iteration (no step, or a loss rise above rounding; see the module
    docstring) still counts as an iteration and is reported to ``callback``
    with the restored start point, its loss and gradient, and the reset
    optimizer state (the snapshot holds no curvature history).
    """
    x = x0.detach().clone().requires_grad_()
    opt = torch.optim.LBFGS(
        [x],
        lr=options.lr,
        max_iter=1,
        max_eval=options.max_evals_per_iter,
        history_size=options.history_size,
        tolerance_grad=options.tolerance_grad,
        tolerance_change=options.tolerance_change,
        line_search_fn=LINE_SEARCH,
    )
    cache = {}

    def closure():
        opt.zero_grad()
        if cache and torch.equal(cache["x"], x.detach()):
            x.grad = cache["grad"].clone()
            return cache["loss"]
        loss = objective(x)
        loss.backward()
        if not (math.isfinite(float(loss.detach())) and torch.isfinite(x.grad).all()):
            raise FloatingPointError(f"objective or gradient not finite at loss={float(loss)}")
        cache.update(x=x.detach().clone(), grad=x.grad.detach().clone(), loss=loss.detach())
        return loss

    if snapshot is not None:
        _restore(opt, cache, snapshot, x)
    loss = float(closure().detach())
    previous = math.inf if snapshot is None else float(snapshot["cache_loss"])
    bar = tqdm(total=options.max_iter, initial=start_iteration, disable=not progress, desc="L-BFGS", unit="it")
    stop = "max_iter"
    state = opt.state[opt._params[0]]
    for iteration in range(start_iteration + 1, options.max_iter + 1):
        start = {key: value.clone() for key, value in cache.items()}  # evaluation at the current point
        steepest = "d" not in state  # no curvature history: torch takes a steepest-descent step
        opt.step(closure)
        moved = not torch.equal(x.detach(), start["x"])
        # Cached unless the line search ended elsewhere; not re-evaluated when no step was taken.
        loss = float(closure().detach()) if moved else float(start["loss"])
        start_loss = float(start["loss"])
        # torch takes no step either at a point that already meets tolerance_grad (the "gradient" stop below).
        converged = float(start["grad"].abs().max()) <= options.tolerance_grad
        rise = loss - start_loss  # a rise above rounding fails, not one at the 1e-16 level
        failed = not converged and (not moved or rise > max(options.tolerance_change, 1e-12 * abs(start_loss)))
        if failed:
            log.warning("iteration %d: %s (loss %.12f -> %.12f); %s", iteration,
                        "line search took no step" if not moved else "line search raised the loss",
                        start_loss, loss, "stopping" if steepest else
                        "restored the start point, dropped the curvature history (steepest-descent restart)")  # fmt: skip
            with torch.no_grad():
                x.copy_(start["x"])
            x.grad = start["grad"].clone()
            cache.clear()
            cache.update(start)
            state.clear()
            loss = start_loss
        grad_max = float(x.grad.abs().max())
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.10f}", grad=f"{grad_max:.1e}")
        log.info("iteration %d: loss %.12f, max|grad| %.3e", iteration, loss, grad_max)
        if callback is not None:
            callback(iteration, x.detach(), loss, grad_max, _snapshot(opt, cache))
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
    return x.detach(), stop
