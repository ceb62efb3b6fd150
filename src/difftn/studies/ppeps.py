"""The positive-PEPS study: p(x) = PEPS(x) / Z on the pixel grid (``difftn.methods.ppeps``).

Stages, each a plain function used by the CLI (as ``studies.born``):

``train_point``  one data set x bond D x boundary-MPS chi: Adam (or L-BFGS)
                 on the NLL, history, final train/test NLL beside the
                 independent-pixel baseline, exact-sample statistics, and
                 the trained tensors (``model.nc``).
``sample_point`` from a model file: exact samples and inpainting (one half
                 of each image given, the other drawn from p(hidden | given)).
``aggregate``    the model files of one data set as a table over (chi, D).

Data sets and split: those of ``studies.born`` (``load_data``), so the two
models are compared on the same images.

Model file: ``theta`` over ``parameter`` holds log P raveled site by site in
raster order (``difftn.methods.ppeps.model.to_flat``); attributes rows, cols, D, chi.
"""

import json
import logging
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import xarray as xr

from ..contract.boundary_mps import BoundaryMPSOptions
from ..data.datasets import is_bars_and_stripes
from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage, check_bounds
from ..infra.provenance import aggregate_attrs, provenance_attrs
from ..methods.born import independent_pixel_nll
from ..methods.ppeps import exact_chi, from_flat, random_ppeps, to_flat
from ..methods.ppeps.sample import conditional_sample, sample
from ..methods.ppeps.train import TrainOptions, evaluate_nll, train
from .born import (DATA_DEFAULTS, DATASETS, HIDE, Cols, Data, Rows, SplitSeed, TestFraction, Threshold, _hidden_mask,
                   SampleSettings, data_settings, load_data, samples_dataset, stack_models)

__all__ = ["MODULES", "STAGES", "DATASETS", "HIDE", "train_point", "load_model", "sample_point", "aggregate"]

log = logging.getLogger(__name__)

#: Library modules whose source determines a positive-PEPS result.
MODULES = (
    "difftn.methods.ppeps",
    "difftn.contract.boundary_mps",
    "difftn.linalg.svd",
    "difftn.linalg.broadening",
    "difftn.linalg.truncation",
    "difftn.data.datasets",
    "difftn.methods.born",
    "difftn.studies.born",
    "difftn.studies.ppeps",
)


def _var(values, dims, long_name, units="1"):
    return xr.DataArray(values, dims=dims, attrs={"long_name": long_name, "units": units})


def train_point(
    data: Data,
    D: Annotated[int, Option("PEPS bond dimension", low=1)],
    chi: Annotated[int, Option("boundary-MPS bond (exact at D^floor(cols/2))", low=1)],
    *,
    rows: Rows = DATA_DEFAULTS["rows"],
    cols: Cols = DATA_DEFAULTS["cols"],
    threshold: Threshold = DATA_DEFAULTS["threshold"],
    test_fraction: TestFraction = DATA_DEFAULTS["test_fraction"],
    split_seed: SplitSeed = DATA_DEFAULTS["split_seed"],
    epochs: Annotated[int, Option("passes over the training data", low=0)] = TrainOptions.epochs,
    learning_rate: Annotated[float, Option("Adam step (L-BFGS: initial step)", low=0, open=True)] = TrainOptions.learning_rate,
    batch_size: Annotated[int, Option("images per Adam step", low=1)] = TrainOptions.batch_size,
    optimizer: Annotated[Literal["adam", "lbfgs"], Option("optimizer")] = TrainOptions.optimizer,
    lbfgs_iter: Annotated[int, Option("L-BFGS iterations per epoch", low=1)] = TrainOptions.lbfgs_iter,
    lr_decay: Annotated[float, Option("Adam step factor per epoch, in (0, 1]", low=0, open=True)] = TrainOptions.lr_decay,
    init_scale: Annotated[float, Option("std of the initial ln P", low=0, open=True)] = 1.0,
    seed: Annotated[int, Option("seed of the start, the minibatches and the samples")] = 0,
    n_samples: Annotated[int, Option("exact samples for the sample statistics", low=0)] = 10_000,
    checkpoint: Annotated[Path | None, Option("state file saved every epoch; an existing one is resumed")] = None,
    device: Device = "auto",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
    progress: bool = False,
) -> xr.Dataset:
    """Train a positive PEPS on one data set at bond D and boundary-MPS bond chi.

    Data-set options as in ``studies.born.train_point``; training options
    those of ``TrainOptions`` and ``init_scale`` (std of the initial theta).
    ``checkpoint``: resumable state file.
    Returns NLL history over ``epoch``, final values, baseline, sample
    statistics and the tensors, with provenance attributes.
    """
    check_bounds(train_point, locals())
    name, settings = data, data_settings(data, rows, cols, threshold, test_fraction, split_seed)
    train_options = {"epochs": epochs, "learning_rate": learning_rate, "batch_size": batch_size,
                     "optimizer": optimizer, "lbfgs_iter": lbfgs_iter, "lr_decay": lr_decay, "init_scale": init_scale}
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    options = TrainOptions(chi=int(chi), seed=seed, **{k: v for k, v in train_options.items() if k != "init_scale"})
    data = load_data(name, settings)
    images, test = data["train"], data["test"]
    rows, cols = data["shape"]
    bmps = BoundaryMPSOptions(chi=int(chi))
    with runtime.measure(dev) as cost:
        model0 = random_ppeps(rows, cols, D, seed=seed, scale=float(train_options.get("init_scale", 1.0)),
                              dtype=dt, device=dev)
        model, info = train(model0, torch.as_tensor(images), options,
                            test_data=None if test is None else torch.as_tensor(test),
                            checkpoint=checkpoint, progress=progress)
        x = sample(model, n_samples, options=bmps, seed=seed + 1).cpu().numpy().astype(np.uint8)
    epochs = np.arange(len(info.nll_train))
    ds = xr.Dataset(
        {
            "train_nll": _var(info.nll_train[-1], (), "training NLL per image after the last epoch", "nat"),
            "train_nll_history": _var(info.nll_train, ("epoch",), "training NLL per image", "nat"),
            "elapsed_history": _var(info.elapsed_s, ("epoch",), "wall time since the start of training", "s"),
            "baseline_train_nll": _var(independent_pixel_nll(images, alpha=1.0), (),
                                       "independent-pixel model (Laplace), training NLL", "nat"),
            "theta": _var(to_flat(model).cpu().numpy(), ("parameter",), "ln P, raveled site by site (raster)"),
            "parameter_count": _var(model.num_parameters(), (), "number of free parameters"),
            "sample_count": _var(len(x), (), "exact samples drawn for the statistics"),
        },
        coords={
            "D": _var(int(D), (), "PEPS bond dimension"),
            "epoch": _var(epochs, ("epoch",), "epoch (0: the random start)"),
        },
    )  # fmt: skip
    if test is not None:
        ds["test_nll"] = _var(info.nll_test[-1], (), "test NLL per image after the last epoch", "nat")
        ds["test_nll_history"] = _var(info.nll_test, ("epoch",), "test NLL per image", "nat")
        ds["baseline_test_nll"] = _var(independent_pixel_nll(images, test, alpha=1.0), (),
                                       "independent-pixel model (Laplace), test NLL", "nat")  # fmt: skip
    if data["floor"] is not None:
        ds["nll_floor"] = _var(data["floor"], (), "smallest possible NLL: ln(number of patterns)", "nat")
    if name == "bas":
        valid = is_bars_and_stripes(x, rows, cols)
        ds["valid_fraction"] = _var(float(valid.mean()) if len(x) else np.nan, (), "share of samples that are patterns")
    parameters = {"data": name, "D": int(D), "chi": int(chi), "seed": seed, "n_samples": n_samples,
                  "settings": settings, "train": train_options}  # fmt: skip
    ds.attrs.update({"title": "positive PEPS trained by maximum likelihood", "data": name, "rows": rows,
                     "cols": cols, "D": int(D), "chi": int(chi), "exact_chi": exact_chi(model), "seed": seed,
                     "data_settings": json.dumps(settings, sort_keys=True)})  # fmt: skip
    ds.attrs.update(provenance_attrs(stage="ppeps_train", parameters=parameters, modules=MODULES, device=dev,
                                     dtype=dt, config_hash=config_hash, **cost))  # fmt: skip
    extra = f", test {float(ds.test_nll):.4f}" if "test_nll" in ds else ""
    log.info("%s D=%d chi=%d (%d parameters): NLL train %.6f%s (independent pixels %.4f), %.1f s", name, D, chi,
             int(ds.parameter_count), float(ds.train_nll), extra, float(ds.baseline_train_nll),
             ds.attrs["wall_time_s"])  # fmt: skip
    return ds


def load_model(source, device: str = "cpu", dtype: str = "float64"):
    """The trained positive PEPS of a model file (path or Dataset): returns (model, Dataset)."""
    ds = source if isinstance(source, xr.Dataset) else read_dataset(source)
    if "theta" not in ds:
        raise ValueError("not a positive-PEPS model file: no variable 'theta'")
    model = from_flat(int(ds.attrs["rows"]), int(ds.attrs["cols"]), int(ds.attrs["D"]), ds.theta.values,
                      dtype=runtime.resolve_dtype(dtype), device=runtime.resolve_device(device))  # fmt: skip
    return model, ds


def sample_point(
    model: Annotated[Path, Option("model file from 'difftn ppeps train'", file=True)],
    settings: SampleSettings = SampleSettings(),
    *,
    device: Device = "auto",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Exact samples and inpainting from a trained model file (as ``studies.born.sample_point``)."""
    dev = runtime.resolve_device(device)
    peps, meta = load_model(model, device=str(dev))
    bmps = BoundaryMPSOptions(chi=int(meta.attrs["chi"]))
    return samples_dataset(
        meta, lambda n, seed: sample(peps, n, options=bmps, seed=seed),
        lambda given, keep, seed: conditional_sample(peps, torch.as_tensor(given).long(), torch.as_tensor(keep),
                                                     options=bmps, seed=seed),
        settings, dev=dev, dtype=peps.params[0][0].dtype, model_dim="D", kind="exact",
        title="positive PEPS samples and inpainting", stage="ppeps_sample", modules=MODULES, config_hash=config_hash,
    )  # fmt: skip


_SUMMARY = ("train_nll", "test_nll", "valid_fraction", "parameter_count")
_CONSTANT = ("baseline_train_nll", "baseline_test_nll", "nll_floor")


def aggregate(paths) -> xr.Dataset:
    """Model files of one data set as a table over (chi, D) (sorted): final NLLs, parameter counts, costs, baseline.

    A (chi, D) pair without a file is NaN.  Raises ValueError if the files mix
    data sets or data settings, or repeat a (chi, D) pair.
    """
    with runtime.measure() as read_cost:
        by_chi = {}
        for path in paths:
            by_chi.setdefault(int(read_dataset(path).attrs["chi"]), []).append(path)
    if not by_chi:
        raise ValueError("aggregate: no input files")
    tables, points = [], []
    for chi in sorted(by_chi):
        table, chi_points, cost = stack_models(by_chi[chi], "D", lambda ds: int(ds.D), "PEPS bond dimension",
                                               _SUMMARY, _CONSTANT)  # fmt: skip
        tables.append(table)
        points += chi_points
        read_cost["wall_time_s"] += cost["wall_time_s"]
    settings = {(ds.attrs["data"], ds.attrs["data_settings"]) for ds in points}
    if len(settings) != 1:
        raise ValueError(f"aggregate: files mix data sets or settings {sorted(settings)}")
    constant = {name: tables[0][name] for name in _CONSTANT if name in tables[0]}  # the same data: any chi's
    out = xr.concat([t.drop_vars(list(constant)).expand_dims(chi=[chi]) for t, chi in zip(tables, sorted(by_chi))],
                    dim="chi", join="outer")  # fmt: skip
    out = out.assign(constant)
    out["chi"].attrs.update({"long_name": "boundary-MPS bond", "units": "1"})
    out.attrs = tables[0].attrs
    out.attrs["title"] = f"positive PEPS NLL against the bond dimension and the boundary-MPS chi ({out.attrs['data']})"
    out.attrs.update(aggregate_attrs(points, stage="ppeps_aggregate", modules=MODULES, **read_cost))
    return out


#: The stages of ``difftn ppeps ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "train": Stage("difftn.studies.ppeps:train_point", "NLL training at one bond dimension D and boundary-MPS chi"),
    "sample": Stage("difftn.studies.ppeps:sample_point", "exact samples and inpainting from a model file"),
    "aggregate": Stage("difftn.studies.ppeps:aggregate", "model files of one data set -> table over (chi, D)", "table"),
    "figure": Stage("", "nll: test NLL against parameter count (--born: Born machine beside it); samples",
                    "figure", {"nll": ("difftn.plots.ppeps:ppeps_nll", True),
                               "samples": ("difftn.plots.ppeps:ppeps_samples", False)}, extra_inputs="born"),
}
