"""The spin-glass study: ln Z and all bond correlations of Gaussian spin glasses.

One point = one instance (L, seed) at one boundary-MPS cutoff chi: ln Z,
every <s_i s_j> = d lnZ/dK_ij and <s_i> from one backward pass.  One
reference per instance: ln Z and correlations by the exact row transfer
matrix (L <= 16).  ``aggregate`` tabulates ln Z and the errors over
(L, seed, chi), against the exact reference where there is one, else against
the largest chi of that instance.

Point variables are over the dimension ``bond`` (the flat bond order of
``difftn.models.spinglass``) and ``site`` (row-major), with coordinates
giving each bond's first site (``bond_row``, ``bond_col``) and direction
(``bond_vertical``: 0 horizontal, 1 vertical).
"""

import logging
from typing import Annotated

import numpy as np
import torch
import xarray as xr

from ..contract.boundary_mps import BoundaryMPSOptions
from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage
from ..infra.provenance import aggregate_attrs, provenance_attrs
from ..methods.spinglass_solver import mps_observables
from ..models import spinglass

__all__ = ["MODULES", "STAGES", "EXACT_MODULES", "MAX_EXACT_L", "compute_point", "compute_exact", "aggregate"]

log = logging.getLogger(__name__)

#: The instance options of both compute stages.
Size = Annotated[int, Option("open L x L lattice", low=1)]
Seed = Annotated[int, Option("seed of the Gaussian couplings", low=0)]
CouplingStd = Annotated[float, Option("std of K_ij (beta J_ij)", low=0)]
FieldStd = Annotated[float, Option("std of the fields h_i", low=0)]

#: Library modules whose source determines a boundary-MPS point.
MODULES = (
    "difftn.linalg.svd",
    "difftn.linalg.broadening",
    "difftn.linalg.truncation",
    "difftn.contract.boundary_mps",
    "difftn.models.spinglass",
    "difftn.methods.spinglass_solver",
    "difftn.studies.spinglass",
)
#: Modules of the exact reference (transfer matrix only).
EXACT_MODULES = ("difftn.models.spinglass", "difftn.studies.spinglass")
#: Largest L with an exact transfer-matrix reference (2^L vector, memory ~ L^2 2^L).
MAX_EXACT_L = 16


def _instance(L, seed, coupling_std, field_std, dtype, device):
    if L < 2:
        raise ValueError(f"spin glass L must be >= 2, got {L}")
    return spinglass.random_spin_glass(L, seed, coupling_std=coupling_std, field_std=field_std, dtype=dtype,
                                       device=device)  # fmt: skip


def _coords(L, seed, extra=None):
    bonds = spinglass.bond_list(L, L)
    coords = {
        "bond": np.arange(len(bonds)),
        "bond_row": ("bond", np.array([a[0] for a, _ in bonds]), {"long_name": "row of the bond's first site"}),
        "bond_col": ("bond", np.array([a[1] for a, _ in bonds]), {"long_name": "column of the bond's first site"}),
        "bond_vertical": ("bond", np.array([int(b[0] > a[0]) for a, b in bonds]),
                          {"long_name": "bond direction (0: to the right, 1: downwards)"}),
        "site": np.arange(L * L),
        "L": xr.DataArray(L, attrs={"long_name": "linear lattice size (open L x L)"}),
        "seed": xr.DataArray(seed, attrs={"long_name": "seed of the Gaussian couplings"}),
    }  # fmt: skip
    coords.update(extra or {})
    return coords


def _check_finite(values: dict, where: str):
    for name, value in values.items():
        if not np.all(np.isfinite(np.asarray(value))):
            raise FloatingPointError(f"{where}: {name} is not finite")


def _common_vars(model, lnz, corr, mag):
    L = model.shape[0]
    return {
        "lnz": xr.DataArray(lnz, attrs={"long_name": "ln Z", "units": "1"}),
        "lnz_per_site": xr.DataArray(lnz / L**2, attrs={"long_name": "ln Z per site", "units": "1"}),
        "correlation": xr.DataArray(corr, dims="bond", attrs={"long_name": "<s_i s_j> = d lnZ/d K_ij", "units": "1"}),
        "magnetization": xr.DataArray(mag, dims="site", attrs={"long_name": "<s_i> = d lnZ/d h_i", "units": "1"}),
        "coupling": xr.DataArray(model.couplings.cpu().numpy(), dims="bond",
                                 attrs={"long_name": "coupling K_ij (beta J_ij)", "units": "1"}),
        "field": xr.DataArray(model.h.reshape(-1).cpu().numpy(), dims="site",
                              attrs={"long_name": "field h_i (beta h_i)", "units": "1"}),
    }  # fmt: skip


def compute_point(
    L: Size,
    chi: Annotated[int, Option("boundary-MPS bond dimension", low=1)],
    seed: Seed = 0,
    *,
    coupling_std: CouplingStd = 1.0,
    field_std: FieldStd = 0.0,
    cutoff: Annotated[float, Option("relative singular-value cutoff", low=0)] = 1e-12,
    device: Device = "cpu",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """ln Z, bond correlations and magnetizations of instance (L, seed) by boundary MPS at chi.

    Raises FloatingPointError naming the point if a value is not finite.
    """
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    options = BoundaryMPSOptions(chi=chi, cutoff=cutoff)
    model = _instance(L, seed, coupling_std, field_std, dt, dev)
    where = f"spin glass L={L} seed={seed} chi={chi}"
    with runtime.measure(dev) as cost:
        result = mps_observables(model, options)
    corr, mag = result["correlations"].cpu().numpy(), result["magnetization"].cpu().numpy()
    _check_finite({"lnZ": result["lnz"], "correlations": corr, "magnetization": mag}, where)
    info = result["info"]
    data = _common_vars(model, result["lnz"], corr, mag)
    data["truncation_error"] = xr.DataArray(
        info.max_truncation_error, attrs={"long_name": "largest discarded weight over all compressions", "units": "1"}
    )
    data["bond_dim"] = xr.DataArray(max(info.bond_dims, default=1), attrs={"long_name": "largest MPS bond", "units": "1"})
    chi_coord = {"chi": xr.DataArray(chi, attrs={"long_name": "boundary-MPS bond dimension cutoff"})}
    ds = xr.Dataset(data, coords=_coords(L, seed, chi_coord))
    ds.attrs.update({"title": "Ising spin glass by boundary MPS and automatic differentiation", "method": "boundary MPS"})
    ds.attrs.update(
        provenance_attrs(
            stage="spinglass",
            parameters={"L": L, "chi": chi, "seed": seed, "coupling_std": coupling_std, "field_std": field_std,
                        "cutoff": cutoff, "eps": options.eps},
            modules=MODULES, device=dev, dtype=dt, config_hash=config_hash, **cost,
        )  # fmt: skip
    )
    log.info("%s: lnZ = %.12f, truncation %.2e, %.2f s", where, result["lnz"], info.max_truncation_error,
             cost["wall_time_s"])  # fmt: skip
    return ds


def compute_exact(
    L: Size,
    seed: Seed = 0,
    *,
    coupling_std: CouplingStd = 1.0,
    field_std: FieldStd = 0.0,
    device: Device = "cpu",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Exact ln Z, correlations and magnetizations of instance (L, seed) by the row transfer matrix."""
    if L > MAX_EXACT_L:
        raise ValueError(f"exact reference needs L <= {MAX_EXACT_L}, got {L}")
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    model = _instance(L, seed, coupling_std, field_std, dt, dev)
    with runtime.measure(dev) as cost:
        couplings = model.couplings.requires_grad_()
        h = model.h.clone().requires_grad_()
        lnz = spinglass.transfer_lnz(spinglass.SpinGlass.from_vector(couplings, model.shape, h))
        corr, mag = torch.autograd.grad(lnz, (couplings, h))
    corr, mag = corr.cpu().numpy(), mag.reshape(-1).cpu().numpy()
    _check_finite({"lnZ": float(lnz.detach()), "correlations": corr, "magnetization": mag}, f"exact L={L} seed={seed}")
    ds = xr.Dataset(_common_vars(model, float(lnz.detach()), corr, mag), coords=_coords(L, seed))
    ds.attrs.update({"title": "Ising spin glass, exact by the row transfer matrix", "method": "transfer matrix"})
    ds.attrs.update(
        provenance_attrs(
            stage="spinglass_exact",
            parameters={"L": L, "seed": seed, "coupling_std": coupling_std, "field_std": field_std},
            modules=EXACT_MODULES, device=dev, dtype=dt, config_hash=config_hash, **cost,
        )  # fmt: skip
    )
    return ds


def aggregate(paths) -> xr.Dataset:
    """Table over (L, seed, chi) from point files and exact files (told apart by their stage).

    Variables: ``lnz``, ``lnz_per_site``, ``lnz_error`` (lnZ - lnZ_ref),
    ``correlation_error`` (max |<ss> - <ss>_ref| over bonds),
    ``truncation_error``, ``wall_time_s``; per (L, seed): ``lnz_reference``
    and ``reference_exact`` (1: exact transfer matrix, 0: the largest chi).
    Missing combinations are NaN.
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        datasets = [read_dataset(p) for p in paths]
    points = [ds for ds in datasets if ds.attrs["difftn_stage"] == "spinglass"]
    exact = {(int(ds.L), int(ds.seed)): ds for ds in datasets if ds.attrs["difftn_stage"] == "spinglass_exact"}
    if not points:
        raise ValueError("aggregate: no spin-glass point files")
    keys = [(int(ds.L), int(ds.seed), int(ds.chi)) for ds in points]
    for key in keys:
        if keys.count(key) > 1:
            raise ValueError(f"aggregate: point L={key[0]} seed={key[1]} chi={key[2]} appears twice")
    Ls = sorted({int(ds.L) for ds in points})
    seeds = sorted({int(ds.seed) for ds in points})
    chis = sorted({int(ds.chi) for ds in points})
    shape = (len(Ls), len(seeds), len(chis))
    table = {k: np.full(shape, np.nan) for k in ("lnz", "lnz_error", "correlation_error", "truncation_error", "wall_time_s")}
    reference = np.full(shape[:2], np.nan)
    is_exact = np.zeros(shape[:2], dtype=np.int8)
    for (a, L), (b, seed) in ((x, y) for x in enumerate(Ls) for y in enumerate(seeds)):
        mine = {int(ds.chi): ds for ds in points if int(ds.L) == L and int(ds.seed) == seed}
        if not mine:
            continue
        ref = exact.get((L, seed), mine[max(mine)])
        is_exact[a, b] = (L, seed) in exact
        reference[a, b] = float(ref.lnz)
        for chi, ds in mine.items():
            c = chis.index(chi)
            table["lnz"][a, b, c] = float(ds.lnz)
            table["lnz_error"][a, b, c] = float(ds.lnz) - float(ref.lnz)
            table["correlation_error"][a, b, c] = float(np.abs(ds.correlation - ref.correlation).max())
            table["truncation_error"][a, b, c] = float(ds.truncation_error)
            table["wall_time_s"][a, b, c] = float(ds.attrs["wall_time_s"])
    dims = ("L", "seed", "chi")
    meta = {
        "lnz": ("ln Z, boundary MPS", "1"),
        "lnz_error": ("ln Z minus the reference ln Z", "1"),
        "correlation_error": ("max over bonds of |<s_i s_j> - reference|", "1"),
        "truncation_error": ("largest discarded weight over all compressions", "1"),
        "wall_time_s": ("wall time of the point (forward + backward)", "s"),
    }
    out = xr.Dataset(
        {k: (dims, table[k], {"long_name": long, "units": units}) for k, (long, units) in meta.items()},
        coords={"L": Ls, "seed": seeds, "chi": chis},
    )
    out["lnz_per_site"] = out.lnz / out.L**2
    out["lnz_per_site"].attrs = {"long_name": "ln Z per site, boundary MPS", "units": "1"}
    out["lnz_reference"] = (("L", "seed"), reference, {"long_name": "reference ln Z", "units": "1"})
    out["reference_exact"] = (("L", "seed"), is_exact,
                              {"long_name": "reference is exact (1: transfer matrix) or the largest chi (0)"})  # fmt: skip
    out.attrs["title"] = "Ising spin glass: boundary-MPS convergence"
    out.attrs.update(aggregate_attrs(datasets, stage="spinglass_aggregate", modules=MODULES, **read_cost))
    return out


#: The stages of ``difftn spinglass ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "point": Stage("difftn.studies.spinglass:compute_point", "lnZ, every <s_i s_j> and <s_i> at one chi"),
    "exact": Stage("difftn.studies.spinglass:compute_exact", "exact lnZ and correlations by the transfer matrix"),
    "aggregate": Stage("difftn.studies.spinglass:aggregate", "table over (L, seed, chi) of lnZ and errors", "table"),
    "figure": Stage("", "convergence: errors against chi; correlations: one instance against the exact ones "
                    "(its point and exact files)", "figure",
                    {"convergence": ("difftn.plots.spinglass:spinglass_convergence", False),
                     "correlations": ("difftn.plots.spinglass:spinglass_correlations", True)}),
}
