"""Hamiltonian design: fit a transverse-field Ising chain to a target ground state.

The design loss is the infidelity

    1 - F,   F = |<target|g(J, h)>|^2 ,

of the chain's ground state (``difftn.models.tfim``), invariant under the sign
of the eigenvector (the only gauge of a real, non-degenerate eigenvector),
minimized over (J, h) by L-BFGS (``difftn.methods.optimize``).  The eigh
backward (Liao et al., PRX 9, 031041 (2019), Eq. 6) broadens 1/(E_k - E_0);
with h_i != 0 the ground state is non-degenerate (the gap closes only as
prod h_i / J_i in the ordered limit, so targets and starts keep h ~ J).
"""

import logging
from dataclasses import dataclass

import torch

from ..models.tfim import check_parameters, ground_state
from .optimize import LBFGSOptions, minimize

__all__ = ["fidelity", "DesignResult", "design"]

log = logging.getLogger(__name__)


def fidelity(state: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|<target|state>|^2 for normalized real vectors (sign-gauge invariant)."""
    return (target @ state) ** 2


@dataclass
class DesignResult:
    """Outcome of ``design``: fitted parameters, final fidelity and gap, the
    per-iteration infidelity and max |gradient|, the L-BFGS stop reason."""

    J: torch.Tensor
    h: torch.Tensor
    fidelity: float
    initial_fidelity: float
    gap: float
    infidelity_history: list
    grad_history: list
    stop_reason: str


def design(
    target: torch.Tensor,
    J0: torch.Tensor,
    h0: torch.Tensor,
    lbfgs: LBFGSOptions = LBFGSOptions(max_iter=200, tolerance_grad=1e-10, tolerance_change=1e-14),
) -> DesignResult:
    """Minimize 1 - |<target|g(J, h)>|^2 over (J, h) from (J0, h0) by L-BFGS.

    Parameters
    ----------
    target : torch.Tensor
        Normalized real state, shape (2^n,).
    J0, h0 : torch.Tensor
        Starting couplings (n-1,) and fields (n,).
    lbfgs : LBFGSOptions
        Stopping rules.

    Returns
    -------
    DesignResult
    """
    n = check_parameters(J0, h0)
    if target.shape != (2**n,):
        raise ValueError(f"target must have shape ({2**n},) for {n} sites, got {tuple(target.shape)}")
    norm = float(torch.linalg.norm(target))
    if abs(norm - 1) > 1e-10:
        raise ValueError(f"target must be normalized, got norm {norm}")

    def loss(x):
        _, state, _ = ground_state(x[: n - 1], x[n - 1 :])
        return 1 - fidelity(state, target)

    x0 = torch.cat([J0, h0]).detach()
    start = 1 - float(loss(x0))
    history, grads = [], []

    def record(iteration, x, value, grad_max, snapshot):
        history.append(value)
        grads.append(grad_max)

    x, stop = minimize(loss, x0, lbfgs, progress=False, callback=record)
    J, h = x[: n - 1], x[n - 1 :]
    _, state, gap = ground_state(J, h)
    F = float(fidelity(state, target))
    log.info("design n=%d: fidelity %.12f -> %.12f after %d iterations (%s)", n, start, F, len(history), stop)
    return DesignResult(J=J, h=h, fidelity=F, initial_fidelity=start, gap=gap, infidelity_history=history,
                        grad_history=grads, stop_reason=stop)  # fmt: skip
