"""The 2D Ising study (Liao et al., PRX 9, 031041 (2019), Fig. 3).

One point: ln Z, energy and specific heat per site at one beta by TRG + AD,
next to Onsager's exact values, as an xarray.Dataset with a scalar coordinate
``beta``; ``aggregate`` stacks points along the dimension ``beta``.
"""

import logging
from typing import Annotated, Literal

import numpy as np
import torch
import xarray as xr

from ..contract.ctmrg import CTMRGOptions, NotConvergedError, correlation_length, ctmrg, transfer_spectrum
from ..contract.quasiparticle import quasiparticle_correlation_length
from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage, check_bounds
from ..infra.provenance import aggregate_attrs, provenance_attrs
from ..methods.thermodynamics import trg_observables
from ..models import ising

log = logging.getLogger(__name__)

__all__ = ["MODULES", "XI_MODULES", "STAGES", "beta_grid", "format_beta", "compute_point", "correlation_point",
           "aggregate"]

#: Library modules whose source determines an Ising result (for provenance and reruns).
MODULES = (
    "difftn.linalg.svd",
    "difftn.linalg.broadening",
    "difftn.linalg.truncation",
    "difftn.contract.trg",
    "difftn.models.ising",
    "difftn.methods.thermodynamics",
    "difftn.studies.ising",
)
#: ... and of a correlation-length point (CTMRG, no TRG).
XI_MODULES = (
    "difftn.linalg.eigh",
    "difftn.linalg.partial_eigh",
    "difftn.linalg.polar",
    "difftn.linalg.broadening",
    "difftn.contract.ctmrg",
    "difftn.contract.quasiparticle",
    "difftn.models.ising",
    "difftn.studies.ising",
)

_VARIABLES = {
    "lnz": ("ln Z per site, TRG", "1"),
    "energy": ("energy per site, -d lnZ/d beta by AD", "J"),
    "specific_heat": ("specific heat per site, beta^2 d2 lnZ/d beta2 by AD", "k_B"),
    "lnz_exact": ("ln Z per site, Onsager", "1"),
    "energy_exact": ("energy per site, Onsager", "J"),
    "specific_heat_exact": ("specific heat per site, Onsager", "k_B"),
    "truncation_error": ("largest discarded SVD weight over the TRG steps", "1"),
}


def beta_grid(ranges: list[dict], decimals: int = 4) -> list[float]:
    """Sorted union of ``numpy.linspace(start, stop, num)`` ranges, rounded to ``decimals``.

    Parameters
    ----------
    ranges : list of dict
        Each with keys ``start``, ``stop`` (start <= stop, both > 0) and ``num`` (>= 1).
    decimals : int
        Digits kept; the same digits name the result files.
    """
    values = []
    for i, r in enumerate(ranges):
        start, stop, num = r["start"], r["stop"], r["num"]
        if not (0 < start <= stop) or num < 1 or (num > 1 and start == stop):
            raise ValueError(
                f"beta range {i} {r}: need 0 < start < stop with num >= 2, or start == stop with num == 1"
            )
        values.extend(np.linspace(start, stop, num))
    return sorted({round(float(v), decimals) for v in values})


def format_beta(beta: float, decimals: int = 4) -> str:
    """The fixed-decimal spelling of beta used in file names, e.g. ``0.4400``."""
    return f"{beta:.{decimals}f}"


def compute_point(
    beta: Annotated[float, Option("inverse temperature", low=0, open=True)],
    chi: Annotated[int, Option("TRG bond dimension cutoff", low=1)] = 30,
    steps: Annotated[int, Option("TRG coarse-graining steps (2^steps sites)", low=1)] = 30,
    *,
    checkpoint: Annotated[bool, Option("recompute each TRG step in the backward (less memory)")] = False,
    symmetry: Annotated[Literal["z2", "none"], Option("z2: block SVDs (faster); none: dense")] = "z2",
    device: Device = "auto",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """TRG + AD observables and the exact values at one beta, with provenance attributes."""
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    with runtime.measure(dev) as cost:
        result = trg_observables(
            beta, chi, steps, checkpoint=checkpoint, symmetry=symmetry, dtype=dt, device=dev
        )
    values = dict(result)
    values["lnz_exact"] = float(ising.exact_lnz(beta))
    values["energy_exact"] = float(ising.exact_energy(beta))
    values["specific_heat_exact"] = float(ising.exact_specific_heat(beta))
    ds = xr.Dataset(
        {
            name: xr.DataArray(values[name], attrs={"long_name": long, "units": units})
            for name, (long, units) in _VARIABLES.items()
        },
        coords={"beta": xr.DataArray(float(beta), attrs={"long_name": "inverse temperature", "units": "1/J"})},
    )
    ds.attrs.update({"title": "2D Ising model by TRG and automatic differentiation", "chi": chi, "steps": steps})
    ds.attrs.update(
        provenance_attrs(
            stage="ising",
            parameters={"beta": beta, "chi": chi, "steps": steps, "checkpoint": checkpoint, "symmetry": symmetry},
            modules=MODULES,
            device=dev,
            dtype=dt,
            config_hash=config_hash,
            **cost,
        )
    )
    log.info("beta=%s chi=%d steps=%d: lnZ=%.12f (err %.1e) E=%.10f (err %.1e) C=%.6f (rel err %.1e) in %.1f s, %.0f MB",
             beta, chi, steps, values["lnz"], values["lnz"] - values["lnz_exact"], values["energy"],
             values["energy"] - values["energy_exact"], values["specific_heat"],
             values["specific_heat"] / values["specific_heat_exact"] - 1, ds.attrs["wall_time_s"],
             ds.attrs["peak_memory_mb"])  # fmt: skip
    return ds


def correlation_point(
    beta: Annotated[float, Option("inverse temperature", low=0, open=True)],
    chi: Annotated[int, Option("CTMRG environment dimension", low=1)] = 32,
    *,
    ctm_tol: Annotated[float, Option("CTMRG tolerance", low=0, open=True)] = 1e-12,
    ctm_max_iter: Annotated[int, Option("CTMRG iteration cap", low=1)] = 3000,
    device: Device = "cpu",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Correlation length of the 2D Ising model from a CTMRG environment, two ways, beside the exact one.

    The environment starts from up boundary spins: below beta_c it selects the
    symmetry-broken phase, whose lambda_1 is the two-particle threshold, so
    xi = -1/ln|lambda_1/lambda_0| of the column transfer matrix is the decay
    length of the connected correlation (``models.ising.exact_correlation_length``;
    McCoy & Wu).  A finite chi resolves the continuous band above lambda_1 as
    discrete levels: this xi(chi) approaches the exact value from below
    (relative error 1.2e-2 at chi = 32, beta = 0.35; see tests/test_correlation.py).
    ``correlation_length_quasiparticle`` is xi from the gap at momentum 0 of
    the quasiparticle ansatz on the same boundary (``contract.quasiparticle``;
    domain walls, xi = 1/(2 epsilon), above beta_c), which converges with the
    boundary itself: 3e-12 at chi = 8, beta = 0.35.
    """
    check_bounds(correlation_point, locals())
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    with runtime.measure(dev) as cost, torch.no_grad():
        b = torch.tensor(float(beta), dtype=dt, device=dev)
        T = ising.ising_tensor(b)
        up = torch.stack([torch.sqrt(torch.cosh(b)), torch.sqrt(torch.sinh(b))])
        _, E, info = ctmrg(T, CTMRGOptions(chi=chi, tol=ctm_tol, max_iter=ctm_max_iter), boundary=up)
        if not info.converged:
            raise NotConvergedError(f"CTMRG at beta={beta}, chi={chi}: not converged after {info.iterations} "
                                    f"iterations")  # fmt: skip
        spectrum = transfer_spectrum(E, T, k=min(4, chi * chi * 2 - 2))
        xi_qp = quasiparticle_correlation_length(E, T, flip=ising.SPIN_FLIP if beta > ising.BETA_C else None)
    xi, exact = correlation_length(spectrum), float(ising.exact_correlation_length(beta))
    ds = xr.Dataset(
        {
            "correlation_length": ((), xi, {"long_name": "xi = -1/ln|lambda_1/lambda_0| (CTMRG)", "units": "1"}),
            "correlation_length_quasiparticle": ((), xi_qp, {"long_name": "xi from the quasiparticle gap at k = 0",
                                                            "units": "1"}),
            "correlation_length_exact": ((), exact, {"long_name": "exact xi (McCoy & Wu)", "units": "1"}),
            "transfer_eigenvalues": (("level",), spectrum.abs().cpu().numpy(), {"long_name": "|lambda_i/lambda_0|"}),
            "ctm_iterations": ((), info.iterations),
        },
        coords={"beta": xr.DataArray(float(beta), attrs={"long_name": "inverse temperature", "units": "1/J"})},
    )  # fmt: skip
    ds.attrs.update({"title": "2D Ising correlation length by CTMRG", "chi": chi})
    ds.attrs.update(provenance_attrs(stage="ising_xi", parameters={"beta": beta, "chi": chi, "ctm_tol": ctm_tol},
                                     modules=XI_MODULES, device=dev, dtype=dt, config_hash=config_hash, **cost))
    log.info("beta=%s chi=%d: xi=%.8f (exact %.8f, rel err %.2e; quasiparticle %.2e)", beta, chi, xi, exact,
             xi / exact - 1, xi_qp / exact - 1)  # fmt: skip
    return ds


def aggregate(paths) -> xr.Dataset:
    """Stack point files of one (chi, steps) along ``beta`` (sorted); per-point costs kept.

    Raises ValueError if the files mix different chi or steps, or repeat a beta.
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        points = [read_dataset(p) for p in paths]
    if not points:
        raise ValueError("aggregate: no input files")
    settings = {(ds.attrs["chi"], ds.attrs["steps"]) for ds in points}
    if len(settings) != 1:
        raise ValueError(f"aggregate: files mix (chi, steps) settings {sorted(settings)}")
    cost = {key: [float(ds.attrs[key]) for ds in points] for key in ("wall_time_s", "peak_memory_mb")}
    stacked = xr.concat(
        [ds.drop_attrs() for ds in points], dim="beta", coords="all", compat="override", join="outer"
    )
    for key, vals in cost.items():
        stacked[key] = ("beta", vals, {"long_name": f"{key} of the point's stage"})
    if len(np.unique(stacked.beta)) != stacked.sizes["beta"]:
        raise ValueError("aggregate: the same beta appears twice")
    stacked = stacked.sortby("beta")
    stacked.attrs = {k: points[0].attrs[k] for k in ("title", "chi", "steps")}
    stacked.attrs.update(aggregate_attrs(points, stage="ising_aggregate", modules=MODULES, **read_cost))
    return stacked


#: The stages of ``difftn ising ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "point": Stage("difftn.studies.ising:compute_point", "one beta: lnZ, energy, specific heat by TRG + AD"),
    "aggregate": Stage("difftn.studies.ising:aggregate", "stack point files of one (chi, steps) along beta", "table"),
    "xi": Stage("difftn.studies.ising:correlation_point",
                "correlation length from the CTMRG transfer matrix, beside the exact one"),
    "figure": Stage("", "Fig. 3: energy and specific heat against Onsager", "figure",
                    {"fig3": ("difftn.plots.ising:ising_fig3", True)}),
}
