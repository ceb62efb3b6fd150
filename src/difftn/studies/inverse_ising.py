"""The inverse-Ising study: recover Gaussian couplings from moments.

Instance: an open L x L Ising model without fields, couplings K ~ N(0, std^2)
from ``seed`` (``difftn.models.spinglass``), L*L <= 20 so that its moments
are known exactly (enumeration) and it can be sampled exactly.

* ``compute_exact_point``: fit from the exact moments (the minimum of the
  convex objective is the true K); records the recovery error and the
  Fisher information (connected correlations by second-order AD), whose
  inverse trace predicts the error from N samples (Cramer-Rao).
* ``compute_samples_point``: ``repeats`` independent sets of N exact samples
  (inverse-CDF sampling of the enumerated distribution), one fit each.
* ``aggregate``: recovery error against N with its fitted log-log slope.
"""

import hashlib
import logging
from dataclasses import dataclass
from typing import Annotated, Literal

import numpy as np
import torch
import xarray as xr

from ..contract.boundary_mps import BoundaryMPSOptions
from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage, check_fields
from ..infra.provenance import aggregate_attrs, provenance_attrs
from ..methods import inverse_ising
from ..methods.optimize import LBFGSOptions
from ..models import spinglass

__all__ = ["MODULES", "STAGES", "FitSettings", "sample_generator", "compute_exact_point", "compute_samples_point", "aggregate"]

log = logging.getLogger(__name__)

#: Library modules whose source determines an inverse-Ising result.
MODULES = (
    "difftn.linalg.svd",
    "difftn.linalg.broadening",
    "difftn.linalg.truncation",
    "difftn.contract.boundary_mps",
    "difftn.models.spinglass",
    "difftn.methods.spinglass_solver",
    "difftn.methods.lbfgs",
    "difftn.methods.optimize",
    "difftn.methods.hessian",
    "difftn.methods.inverse_ising",
    "difftn.studies.inverse_ising",
)


#: FitSettings fields recorded as a point's parameters.
_FIT_PARAMETERS = ("L", "seed", "coupling_std", "method", "chi", "tolerance_grad", "max_iter")


def sample_generator(sample_seed: int, N: int, repeat: int) -> torch.Generator:
    """CPU generator of sample set ``repeat`` at size N: independent streams per (seed, N, repeat)."""
    digest = hashlib.sha256(f"inverse-ising/{sample_seed}/{N}/{repeat}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class FitSettings:
    """The instance and the fit of an inverse-Ising point (options of both compute stages)."""

    L: Annotated[int, Option("open L x L lattice, L*L <= 20 (exact moments and samples)", low=2)] = 4
    seed: Annotated[int, Option("seed of the true couplings", low=0)] = 0
    coupling_std: Annotated[float, Option("std of the true K_ij", low=0)] = 0.5
    method: Annotated[Literal["mps", "transfer"], Option("how lnZ is computed")] = "mps"
    chi: Annotated[int, Option("boundary-MPS bond dimension", low=1)] = 16
    tolerance_grad: Annotated[float, Option("stop at max moment mismatch below this", low=0, open=True)] = 1e-11
    max_iter: Annotated[int, Option("L-BFGS iterations", low=1)] = 500
    device: Device = "cpu"
    dtype: Dtype = "float64"

    def __post_init__(self):
        check_fields(self)
        if self.L * self.L > spinglass.MAX_ENUMERATE_SPINS:
            raise ValueError(f"inverse Ising L must satisfy L*L <= {spinglass.MAX_ENUMERATE_SPINS}, got {self.L}")


def _setup(fit: FitSettings):
    dev, dt = runtime.resolve_device(fit.device), runtime.resolve_dtype(fit.dtype)
    model = spinglass.random_spin_glass(fit.L, fit.seed, coupling_std=fit.coupling_std, dtype=dt, device=dev)
    lbfgs = LBFGSOptions(max_iter=fit.max_iter, history_size=50, tolerance_grad=fit.tolerance_grad,
                         tolerance_change=1e-300)  # fmt: skip
    return dev, dt, model, dict(method=fit.method, options=BoundaryMPSOptions(chi=fit.chi), lbfgs=lbfgs)


def _attrs(ds, stage, parameters, dev, dt, config_hash, cost):
    ds.attrs.update({"title": "Inverse Ising: couplings from moments by L-BFGS on lnZ(K) - K.C"})
    ds.attrs.update(provenance_attrs(stage=stage, parameters=parameters, modules=MODULES, device=dev, dtype=dt,
                                     config_hash=config_hash, **cost))  # fmt: skip
    return ds


def _coupling_vars(model):
    return {"coupling_true": xr.DataArray(model.couplings.cpu().numpy(), dims="bond",
                                          attrs={"long_name": "true coupling K_ij", "units": "1"})}  # fmt: skip


def compute_exact_point(fit: FitSettings = FitSettings(), *, config_hash: ConfigHash = "none") -> xr.Dataset:
    """Fit from the exact moments; recovery error and Fisher information at the true couplings."""
    settings = fit
    L, seed, coupling_std, method, chi, tolerance_grad, max_iter = (getattr(settings, k) for k in _FIT_PARAMETERS)
    dev, dt, model, fit = _setup(settings)
    with runtime.measure(dev) as cost:
        moments = spinglass.enumerate_moments(model)
        fitted, info = inverse_ising.fit_couplings(moments["correlations"], model.shape, **fit)
        fisher = inverse_ising.fisher_information(model, method, fit["options"])
    rms, worst = inverse_ising.recovery_error(fitted, model)
    if not np.isfinite([rms, worst]).all():
        raise FloatingPointError(f"inverse Ising exact L={L} seed={seed}: recovery error not finite")
    fisher_error = float((fisher - moments["covariance"]).abs().max())
    cr = inverse_ising.cramer_rao_rms(fisher)
    scalar = lambda v, long, units="1": xr.DataArray(v, attrs={"long_name": long, "units": units})  # noqa: E731
    data = {
        **_coupling_vars(model),
        "coupling_fit": xr.DataArray(fitted.couplings.cpu().numpy(), dims="bond",
                                     attrs={"long_name": "coupling fitted to the exact moments", "units": "1"}),
        "correlation": xr.DataArray(moments["correlations"].cpu().numpy(), dims="bond",
                                    attrs={"long_name": "exact <s_i s_j> (enumeration)", "units": "1"}),
        "fisher": xr.DataArray(fisher.cpu().numpy(), dims=("bond", "bond2"),
                               attrs={"long_name": "d2 lnZ/dK dK by second-order AD (connected correlations)", "units": "1"}),
        "rms_error": scalar(rms, "rms over bonds of |K_fit - K_true|"),
        "max_error": scalar(worst, "max over bonds of |K_fit - K_true|"),
        "grad_max": scalar(info.grad_max, "final max |<ss>_fit - C| (L-BFGS gradient)"),
        "iterations": scalar(info.iterations, "L-BFGS iterations"),
        "fisher_error": scalar(fisher_error, "max |Fisher by AD - covariance by enumeration|"),
        "cramer_rao_rms": scalar(cr, "sqrt(tr(I^-1)/n_bonds): predicted rms error times sqrt(N)"),
    }  # fmt: skip
    ds = xr.Dataset(data, coords={"bond": np.arange(model.n_bonds), "bond2": np.arange(model.n_bonds), "L": L,
                                  "seed": seed})  # fmt: skip
    ds.attrs["stop_reason"] = info.stop_reason
    params = {"L": L, "seed": seed, "coupling_std": coupling_std, "method": method, "chi": chi,
              "tolerance_grad": tolerance_grad, "max_iter": max_iter}  # fmt: skip
    log.info("inverse Ising exact moments L=%d seed=%d: rms error %.2e, max %.2e, %d iterations (%s)", L, seed, rms,
             worst, info.iterations, info.stop_reason)  # fmt: skip
    return _attrs(ds, "inverse_ising_exact", params, dev, dt, config_hash, cost)


def compute_samples_point(
    N: Annotated[int, Option("samples per fit", low=1)],
    fit: FitSettings = FitSettings(),
    *,
    repeats: Annotated[int, Option("independent sample sets", low=1)] = 4,
    sample_seed: Annotated[int, Option("seed of the sample streams", low=0)] = 0,
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """``repeats`` fits, each from the moments of N independent exact samples."""
    if N < 1 or repeats < 1:
        raise ValueError(f"N and repeats must be >= 1, got N={N}, repeats={repeats}")
    settings = fit
    L, seed, coupling_std, method, chi, tolerance_grad, max_iter = (getattr(settings, k) for k in _FIT_PARAMETERS)
    dev, dt, model, fit = _setup(settings)
    fits, rms, worst, iters, saturated = [], [], [], [], []
    with runtime.measure(dev) as cost:
        for r in range(repeats):
            samples = spinglass.sample_exact(model, N, sample_generator(sample_seed, N, r))
            corr, _ = inverse_ising.sample_moments(samples)
            fitted, info = inverse_ising.fit_couplings(corr.to(dev, dt), model.shape, **fit)
            e_rms, e_max = inverse_ising.recovery_error(fitted, model)
            fits.append(fitted.couplings.cpu().numpy())
            rms.append(e_rms)
            worst.append(e_max)
            iters.append(info.iterations)
            saturated.append(info.saturated)
    if not np.isfinite(rms).all():
        raise FloatingPointError(f"inverse Ising N={N} L={L} seed={seed}: recovery error not finite")
    rep = lambda v, long, units="1": xr.DataArray(np.array(v), dims="repeat", attrs={"long_name": long, "units": units})  # noqa: E731
    data = {
        **_coupling_vars(model),
        "coupling_fit": xr.DataArray(np.stack(fits), dims=("repeat", "bond"),
                                     attrs={"long_name": "coupling fitted to the sample moments", "units": "1"}),
        "rms_error": rep(rms, "rms over bonds of |K_fit - K_true|"),
        "max_error": rep(worst, "max over bonds of |K_fit - K_true|"),
        "iterations": rep(iters, "L-BFGS iterations"),
        "saturated": rep(saturated, "bonds with sample correlation exactly +-1 (no finite estimate)"),
    }  # fmt: skip
    coords = {"repeat": np.arange(repeats), "bond": np.arange(model.n_bonds), "L": L, "seed": seed,
              "N": xr.DataArray(N, attrs={"long_name": "samples per fit"})}  # fmt: skip
    ds = xr.Dataset(data, coords=coords)
    params = {"N": N, "L": L, "seed": seed, "repeats": repeats, "sample_seed": sample_seed,
              "coupling_std": coupling_std, "method": method, "chi": chi, "tolerance_grad": tolerance_grad,
              "max_iter": max_iter}  # fmt: skip
    log.info("inverse Ising N=%d: rms errors %s", N, ", ".join(f"{x:.3e}" for x in rms))
    return _attrs(ds, "inverse_ising_samples", params, dev, dt, config_hash, cost)


def aggregate(paths) -> xr.Dataset:
    """Recovery error against N (files of ``compute_samples_point``) plus the exact-moment fit.

    Variables over ``N``: ``rms_error`` (mean over repeats), ``rms_error_std``,
    ``max_error`` (mean), ``cramer_rao`` (predicted rms error,
    cramer_rao_rms / sqrt(N)); scalars ``exact_rms_error``,
    ``exact_max_error``, ``cramer_rao_rms``; attribute ``slope``: least-squares
    slope of log(rms_error) against log(N) (-1/2 expected).
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        datasets = [read_dataset(p) for p in paths]
    exact = [ds for ds in datasets if ds.attrs["difftn_stage"] == "inverse_ising_exact"]
    points = sorted((ds for ds in datasets if ds.attrs["difftn_stage"] == "inverse_ising_samples"),
                    key=lambda ds: int(ds.N))  # fmt: skip
    if len(exact) != 1 or not points:
        raise ValueError(f"aggregate: need one exact-moment file and >= 1 sample file, got {len(exact)} and {len(points)}")
    (exact,) = exact
    Ns = [int(ds.N) for ds in points]
    if len(set(Ns)) != len(Ns):
        raise ValueError(f"aggregate: repeated N in {Ns}")
    for ds in points:
        if not np.array_equal(ds.coupling_true.values, exact.coupling_true.values):
            raise ValueError(f"aggregate: N={int(ds.N)} was computed for another instance than the exact fit")
    cr = float(exact.cramer_rao_rms)
    N = np.array(Ns)
    rms = np.array([float(ds.rms_error.mean()) for ds in points])
    out = xr.Dataset(
        {
            "rms_error": ("N", rms, {"long_name": "rms coupling error, mean over repeats", "units": "1"}),
            "rms_error_std": ("N", [float(ds.rms_error.std(ddof=1)) if ds.sizes["repeat"] > 1 else np.nan
                                    for ds in points], {"long_name": "standard deviation over repeats", "units": "1"}),
            "max_error": ("N", [float(ds.max_error.mean()) for ds in points],
                          {"long_name": "max coupling error, mean over repeats", "units": "1"}),
            "repeats": ("N", [ds.sizes["repeat"] for ds in points], {"long_name": "sample sets per N"}),
            "cramer_rao": ("N", cr / np.sqrt(N), {"long_name": "asymptotic rms error sqrt(tr(I^-1)/n_bonds/N)",
                                                   "units": "1"}),
            "exact_rms_error": ((), float(exact.rms_error), {"long_name": "rms error of the exact-moment fit"}),
            "exact_max_error": ((), float(exact.max_error), {"long_name": "max error of the exact-moment fit"}),
            "cramer_rao_rms": ((), cr, {"long_name": "sqrt(tr(I^-1)/n_bonds)"}),
        },
        coords={"N": N},
    )  # fmt: skip
    slope = float(np.polyfit(np.log(N), np.log(rms), 1)[0]) if len(N) > 1 else float("nan")
    out.attrs = {"title": "Inverse Ising: recovery error against the number of samples", "slope": slope,
                 "L": int(exact.L), "seed": int(exact.seed)}  # fmt: skip
    out.attrs.update(aggregate_attrs(datasets, stage="inverse_ising_aggregate", modules=MODULES, **read_cost))
    return out


#: The stages of ``difftn inverse-ising ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "exact": Stage("difftn.studies.inverse_ising:compute_exact_point",
                   "fit to the exact moments; Fisher information by second-order AD"),
    "samples": Stage("difftn.studies.inverse_ising:compute_samples_point",
                     "fits to the moments of N exact samples, several sample sets"),
    "aggregate": Stage("difftn.studies.inverse_ising:aggregate", "recovery error against N with its log-log slope",
                       "table"),
    "figure": Stage("", "recovery error against N", "figure",
                    {"recovery": ("difftn.plots.inverse_ising:inverse_ising_recovery", False)}),
}
