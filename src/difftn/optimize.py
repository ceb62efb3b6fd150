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
        ``"gradient"``, ``"no change"`` or ``"max_iter"``.
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
    for iteration in range(start_iteration + 1, options.max_iter + 1):
        opt.step(closure)
        loss = float(closure().detach())  # cached unless the line search ended elsewhere
        grad_max = float(x.grad.abs().max())
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.10f}", grad=f"{grad_max:.1e}")
        log.info("iteration %d: loss %.12f, max|grad| %.3e", iteration, loss, grad_max)
        if callback is not None:
            callback(iteration, x.detach(), loss, grad_max, _snapshot(opt, cache))
        if grad_max <= options.tolerance_grad:
            stop = "gradient"
            break
        if abs(previous - loss) < options.tolerance_change:
            stop = "no change"
            break
        previous = loss
    bar.close()
    return x.detach(), stop
