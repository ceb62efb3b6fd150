"""Inverse Ising problem: couplings from correlations by convex minimization.

Maximum likelihood for the exponential family of the Ising model (see e.g.
Nguyen, Zecchina & Berg, Adv. Phys. 66, 197 (2017), Sec. 3): given bond
correlations C_ij = <s_i s_j>_data (and optionally magnetizations m_i), the
couplings (and fields) minimize

    f(K, h) = ln Z(K, h) - sum_<ij> K_ij C_ij - sum_i h_i m_i  (+ l2/2 |K|^2),

a convex function (ln Z is the cumulant generating function of the
sufficient statistics) whose gradient is <s_i s_j>_K - C_ij: its minimum
matches the model moments to the data.  ln Z and its gradient come from the
differentiable boundary-MPS contraction (``"mps"``) or from the exact
transfer matrix (``"transfer"``); the minimizer is L-BFGS (``difftn.methods.optimize``).

With exact moments of a model the minimum is that model (the statistics of
distinct bonds are linearly independent).  With the empirical moments of N
independent samples the estimate is consistent and asymptotically normal
with covariance (N I)^-1, I = d2 lnZ/dK dK the Fisher information (the
connected correlations, obtained here by second-order AD): the rms error per
coupling falls like sqrt(tr(I^-1) / n_bonds / N) (``cramer_rao_rms``).

A bond whose data correlation is exactly +-1 (all N samples aligned) has no
finite estimate; ``fit_couplings`` warns and stops at max_iter.
"""

import logging
import math
from dataclasses import dataclass

import torch

from ..contract.boundary_mps import BoundaryMPSOptions
from ..models.spinglass import SpinGlass, bond_statistics, transfer_lnz
from .optimize import LBFGSOptions, minimize
from .spinglass_solver import mps_lnz

__all__ = [
    "METHODS",
    "FitInfo",
    "sample_moments",
    "lnz_function",
    "fit_couplings",
    "recovery_error",
    "fisher_information",
    "cramer_rao_rms",
]

log = logging.getLogger(__name__)

#: How ln Z is computed: boundary MPS (cutoff chi) or the exact transfer matrix.
METHODS = ("mps", "transfer")

#: Default L-BFGS settings of a fit: gradient (moment mismatch) below 1e-11.
DEFAULT_LBFGS = LBFGSOptions(max_iter=500, history_size=50, tolerance_grad=1e-11, tolerance_change=1e-300)


@dataclass
class FitInfo:
    """How a fit ended: L-BFGS iterations, stop reason, final max |gradient|
    (= max moment mismatch), final objective, saturated bonds (|C| = 1)."""

    iterations: int
    stop_reason: str
    grad_max: float
    objective: float
    saturated: int


def sample_moments(samples: torch.Tensor) -> tuple:
    """Empirical bond correlations and magnetizations of samples (N, rows, cols) of +-1.

    Returns (correlations (n_bonds,), magnetization (rows * cols,)), float64.
    """
    if samples.dim() != 3 or samples.shape[0] < 1:
        raise ValueError(f"samples must have shape (N >= 1, rows, cols), got {tuple(samples.shape)}")
    products, spins = bond_statistics(samples.to(torch.float64))
    return products.mean(0), spins.mean(0)


def lnz_function(shape: tuple, method: str = "mps", options: BoundaryMPSOptions = BoundaryMPSOptions()):
    """``lnz(couplings, h) -> scalar tensor`` for a rows x cols lattice.

    Parameters
    ----------
    shape : tuple
        (rows, cols).
    method : str
        ``"mps"``: boundary MPS with ``options``; ``"transfer"``: exact
        row transfer matrix (cols <= 20).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "mps":
        return lambda couplings, h: mps_lnz(SpinGlass.from_vector(couplings, shape, h), options)[0]
    return lambda couplings, h: transfer_lnz(SpinGlass.from_vector(couplings, shape, h))


def fit_couplings(
    correlations: torch.Tensor,
    shape: tuple,
    *,
    magnetization: torch.Tensor | None = None,
    method: str = "mps",
    options: BoundaryMPSOptions = BoundaryMPSOptions(),
    lbfgs: LBFGSOptions = DEFAULT_LBFGS,
    l2: float = 0.0,
) -> tuple:
    """Couplings (and fields) whose moments match the given ones, by L-BFGS.

    Parameters
    ----------
    correlations : torch.Tensor
        <s_i s_j> per bond in the flat bond order (``bond_list``), in [-1, 1].
    shape : tuple
        (rows, cols) of the lattice.
    magnetization : torch.Tensor, optional
        <s_i> per site (row-major).  Given: fields are fitted too; omitted:
        fields are fixed at zero (a Z2-symmetric model).
    method, options
        How ln Z is computed (``lnz_function``).
    lbfgs : LBFGSOptions
        Stopping rules; ``tolerance_grad`` bounds the final moment mismatch.
    l2 : float
        Ridge penalty l2/2 |K|^2 on the couplings (>= 0; 0: maximum likelihood).

    Returns
    -------
    model : SpinGlass
        Fitted couplings and fields (detached).
    info : FitInfo
    """
    rows, cols = shape
    n_bonds = rows * (cols - 1) + (rows - 1) * cols
    c = torch.as_tensor(correlations, dtype=torch.float64)
    if c.shape != (n_bonds,):
        raise ValueError(f"correlations must have shape ({n_bonds},) for a {rows} x {cols} lattice, got {tuple(c.shape)}")
    if not (c.abs() <= 1).all():
        raise ValueError("correlations must lie in [-1, 1]")
    if l2 < 0:
        raise ValueError(f"l2 must be >= 0, got {l2}")
    m = None if magnetization is None else torch.as_tensor(magnetization, dtype=torch.float64)
    if m is not None and m.shape != (rows * cols,):
        raise ValueError(f"magnetization must have shape ({rows * cols},), got {tuple(m.shape)}")
    saturated = int((c.abs() >= 1 - 1e-15).sum()) + (0 if m is None else int((m.abs() >= 1 - 1e-15).sum()))
    if saturated:
        log.warning("%d statistics are exactly +-1: their maximum-likelihood parameters are infinite", saturated)
    lnz = lnz_function(shape, method, options)
    target = c if m is None else torch.cat([c, m])

    def objective(x):
        couplings = x[:n_bonds]
        h = x[n_bonds:].reshape(rows, cols) if m is not None else x.new_zeros(rows, cols)
        value = lnz(couplings, h) - x @ target
        return value + 0.5 * l2 * couplings.square().sum() if l2 else value

    history = []
    x, stop = minimize(
        objective,
        torch.zeros_like(target),
        lbfgs,
        progress=False,
        callback=lambda it, x, loss, grad_max, snap: history.append((it, loss, grad_max)),
    )
    it, loss, grad_max = history[-1] if history else (0, float(objective(x)), math.nan)
    h = x[n_bonds:].reshape(rows, cols) if m is not None else None
    model = SpinGlass.from_vector(x[:n_bonds].clone(), shape, h)
    return model, FitInfo(iterations=it, stop_reason=stop, grad_max=grad_max, objective=loss, saturated=saturated)


def recovery_error(fitted: SpinGlass, true: SpinGlass) -> tuple:
    """(rms, max) of |K_fitted - K_true| over the bonds."""
    diff = (fitted.couplings - true.couplings.to(fitted.couplings)).detach()
    return float(diff.square().mean().sqrt()), float(diff.abs().max())


def fisher_information(model: SpinGlass, method: str = "mps", options: BoundaryMPSOptions = BoundaryMPSOptions()):
    """d2 lnZ / dK_ij dK_kl (the connected correlations) by second-order AD; (n_bonds, n_bonds)."""
    lnz = lnz_function(model.shape, method, options)
    h = model.h.detach()
    return torch.autograd.functional.hessian(lambda k: lnz(k, h), model.couplings.detach())


def cramer_rao_rms(fisher: torch.Tensor) -> float:
    """sqrt(tr(I^-1) / n_bonds): the asymptotic rms coupling error times sqrt(N)."""
    return math.sqrt(float(torch.linalg.inv(fisher).diagonal().sum()) / fisher.shape[0])
