"""Differentiable spin-glass solver: ln Z by boundary MPS, moments by reverse-mode AD.

The model, its site tensors and the exact references (enumeration, transfer
matrix) are in ``difftn.models.spinglass``; the contraction is
``difftn.contract.boundary_mps``.
"""

import torch

from ..contract.boundary_mps import BoundaryMPSOptions, boundary_mps_lnz
from ..models.spinglass import SpinGlass, site_tensors

__all__ = ["mps_lnz", "mps_observables"]


def mps_lnz(model: SpinGlass, options: BoundaryMPSOptions = BoundaryMPSOptions()) -> tuple:
    """ln Z by boundary-MPS contraction of ``site_tensors(model)``; returns (lnz, info)."""
    return boundary_mps_lnz(site_tensors(model), options)


def mps_observables(model: SpinGlass, options: BoundaryMPSOptions = BoundaryMPSOptions()) -> dict:
    """ln Z, every bond correlation and every magnetization from one backward pass.

    <s_i s_j> = d lnZ / d K_ij and <s_i> = d lnZ / d h_i by reverse-mode AD
    through the boundary-MPS contraction.

    Returns
    -------
    dict
        ``lnz`` (float), ``correlations`` (n_bonds,) in the flat bond order,
        ``magnetization`` (rows * cols,), ``info`` (BoundaryMPSInfo); tensors
        detached.
    """
    couplings = model.couplings.detach().requires_grad_()
    h = model.h.detach().requires_grad_()
    lnz, info = mps_lnz(SpinGlass.from_vector(couplings, model.shape, h), options)
    corr, mag = torch.autograd.grad(lnz, (couplings, h))
    return {"lnz": float(lnz.detach()), "correlations": corr, "magnetization": mag.reshape(-1), "info": info}
