"""The Hamiltonian-design study: one transverse-field Ising chain fitted to a target.

Target: the ground state of a chain with seeded couplings and fields uniform
in [low, high) (a reachable target with a non-degenerate ground state).
Start: the uniform chain J_i = h_i = 1.  ``compute`` runs
``difftn.methods.fidelity_design.design`` and records the fitted and target parameters, the
fidelity, the gap and the per-iteration infidelity.
"""

import logging
from typing import Annotated

import numpy as np
import torch
import xarray as xr

from ..infra import runtime
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage
from ..infra.provenance import provenance_attrs
from ..methods.fidelity_design import design
from ..methods.optimize import LBFGSOptions
from ..models import tfim

log = logging.getLogger(__name__)

__all__ = ["MODULES", "STAGES", "compute"]

#: Library modules whose source determines a design result.
MODULES = (
    "difftn.linalg.svd",
    "difftn.linalg.eigh",
    "difftn.linalg.broadening",
    "difftn.methods.lbfgs",
    "difftn.methods.optimize",
    "difftn.methods.hessian",
    "difftn.models.tfim",
    "difftn.methods.fidelity_design",
    "difftn.studies.design",
)


def compute(
    sites: Annotated[int, Option("chain length (2..12)", low=2)] = 6,
    seed: Annotated[int, Option("seed of the target chain's J, h", low=0)] = 0,
    *,
    low: Annotated[float, Option("target J, h uniform in [low, high)", low=0, open=True)] = 0.5,
    high: Annotated[float, Option("target J, h uniform in [low, high)", low=0, open=True)] = 1.5,
    max_iter: Annotated[int, Option("L-BFGS iterations", low=1)] = 200,
    tolerance_grad: Annotated[float, Option("stop at max |gradient| below this", low=0, open=True)] = 1e-10,
    device: Device = "cpu",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Fit a uniform start to the ground state of the seeded chain; one Dataset."""
    if not 2 <= sites <= tfim.MAX_SITES:
        raise ValueError(f"design sites must be in [2, {tfim.MAX_SITES}], got {sites}")
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    J_target, h_target = (x.to(dev) for x in tfim.random_parameters(sites, seed, low, high, dtype=dt))
    _, target, target_gap = tfim.ground_state(J_target, h_target)
    ones = lambda n: torch.ones(n, dtype=dt, device=dev)  # noqa: E731
    lbfgs = LBFGSOptions(max_iter=max_iter, tolerance_grad=tolerance_grad, tolerance_change=1e-14)
    with runtime.measure(dev) as cost:
        result = design(target.detach(), ones(sites - 1), ones(sites), lbfgs)
    if not np.isfinite(result.fidelity):
        raise FloatingPointError(f"design sites={sites} seed={seed}: fidelity not finite")
    arr = lambda v, dim, long: xr.DataArray(np.asarray(v), dims=dim, attrs={"long_name": long, "units": "1"})  # noqa: E731
    scalar = lambda v, long: xr.DataArray(v, attrs={"long_name": long, "units": "1"})  # noqa: E731
    data = {
        "J": arr(result.J.cpu().numpy(), "bond", "fitted coupling J_i"),
        "h": arr(result.h.cpu().numpy(), "site", "fitted field h_i"),
        "J_target": arr(J_target.cpu().numpy(), "bond", "coupling of the target chain"),
        "h_target": arr(h_target.cpu().numpy(), "site", "field of the target chain"),
        "fidelity": scalar(result.fidelity, "|<target|ground state>|^2 after the fit"),
        "initial_fidelity": scalar(result.initial_fidelity, "fidelity of the uniform start J = h = 1"),
        "gap": scalar(result.gap, "E_1 - E_0 of the fitted chain"),
        "target_gap": scalar(target_gap, "E_1 - E_0 of the target chain"),
        "infidelity": arr(result.infidelity_history, "iteration", "1 - fidelity after each L-BFGS iteration"),
        "grad_max": arr(result.grad_history, "iteration", "max |gradient| after each L-BFGS iteration"),
    }
    coords = {"iteration": np.arange(1, len(result.infidelity_history) + 1), "bond": np.arange(sites - 1),
              "site": np.arange(sites)}  # fmt: skip
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update({"title": "Hamiltonian design: TFIM chain fitted to a target ground state through eigh",
                     "stop_reason": result.stop_reason, "sites": sites, "seed": seed})  # fmt: skip
    params = {"sites": sites, "seed": seed, "low": low, "high": high, "max_iter": max_iter,
              "tolerance_grad": tolerance_grad}  # fmt: skip
    ds.attrs.update(provenance_attrs(stage="design", parameters=params, modules=MODULES, device=dev, dtype=dt,
                                     config_hash=config_hash, **cost))  # fmt: skip
    log.info("design sites=%d seed=%d: fidelity %.12f (start %.6f) after %d iterations", sites, seed,
             float(ds.fidelity), float(ds.initial_fidelity), ds.sizes["iteration"])  # fmt: skip
    return ds


#: The stages of ``difftn design ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "point": Stage("difftn.studies.design:compute", "fit a TFIM chain to a target ground state through eigh"),
}
