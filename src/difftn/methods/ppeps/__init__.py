"""Positive PEPS as a generative model: p(x) = PEPS(x) / Z on a 2D pixel grid.

``model``: the non-negative tensor grid, ln PEPS(x), ln Z and marginals by
the (batched) boundary MPS of ``difftn.contract.boundary_mps``; ``train``: NLL
minimization by Adam or L-BFGS with per-epoch, resumable checkpoints;
``sample``: exact sampling and inpainting pixel by pixel from marginals.
"""

from .model import (
    PositivePEPS,
    exact_chi,
    from_flat,
    log_marginal,
    log_partition,
    log_peps,
    log_prob,
    nll,
    random_ppeps,
    to_flat,
)

__all__ = [
    "PositivePEPS",
    "exact_chi",
    "from_flat",
    "log_marginal",
    "log_partition",
    "log_peps",
    "log_prob",
    "nll",
    "random_ppeps",
    "to_flat",
]
