"""The MPS Born machine study (Han, Wang, Fan, Wang, Zhang, PRX 8, 031012 (2018)).

Stages, each a plain function used by the CLI and the workflow scripts:

``train_point``  one data set x one maximal bond dimension: two-site sweep
                 training, NLL history, final train/test NLL next to the
                 independent-pixel baseline, zipper-sample statistics, and
                 the trained MPS itself (``model.nc``).
``sample_point`` from a model file: a grid of exact samples and inpainting
                 (one half of each image given, the other half drawn from
                 the conditional distribution) (``samples.nc``).
``aggregate``    the model files of one data set along ``max_bond``.

Data sets (``DATASETS``): ``bas`` (bars and stripes, rows x cols, trained on
all patterns; NLL floor ln(#patterns)); ``digits`` (scikit-learn's 8x8
digits binarized at ``threshold``, a seeded held-out test split).

Model file layout of the MPS (ragged bond dimensions): ``bond_dimension``
over ``bond`` holds D_0..D_n (n + 1 values, D_0 = D_n = 1); site k has shape
(D_k, 2, D_{k+1}) in index order [left bond, pixel value, right bond];
``mps_data`` over ``mps_element`` holds all site tensors raveled in C order
and concatenated in site order.  The MPS is stored in canonical form with
its orthogonality center at site 0 and Z = 1 (ready for zipper sampling).
Pixels are in raster order (pixel (r, c) is site r * cols + c).
"""

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
import xarray as xr

from ..data.datasets import DIGITS_SHAPE, bars_and_stripes, digits, is_bars_and_stripes
from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import ConfigHash, Device, Dtype, Option, Stage, check_bounds, check_fields
from ..infra.provenance import aggregate_attrs, provenance_attrs
from ..methods.born import (
    SweepOptions,
    conditional_sample,
    from_flat,
    independent_pixel_nll,
    random_mps,
    sample,
    to_flat,
    train_sweeps,
)

__all__ = ["MODULES", "STAGES", "DATASETS", "HIDE", "load_data", "stack_models", "samples_dataset", "SampleSettings", "train_point", "load_model", "sample_point", "aggregate"]

log = logging.getLogger(__name__)

#: Library modules whose source determines a Born-machine result.
# born/train.py truncates with difftn.linalg.truncation: its rules must rerun when that changes.
MODULES = ("difftn.methods.born", "difftn.data.datasets", "difftn.linalg.truncation", "difftn.studies.born")

#: Data set names.
DATASETS = ("bas", "digits")
#: Which half of an image inpainting hides (and draws).
HIDE = ("bottom", "top", "left", "right")

#: Defaults of the data-set options (shared with the positive-PEPS study).
DATA_DEFAULTS = {"rows": 4, "cols": 4, "threshold": 8, "test_fraction": 0.2, "split_seed": 0}
Data = Annotated[Literal[DATASETS], Option("bas: bars and stripes; digits: 8x8 digits")]
Rows = Annotated[int, Option("bas: image height", low=1)]
Cols = Annotated[int, Option("bas: image width", low=1)]
Threshold = Annotated[int, Option("digits: gray level (1..16) counted as 1", low=1)]
TestFraction = Annotated[float, Option("digits: held-out share in [0, 1)", low=0)]
SplitSeed = Annotated[int, Option("digits: seed of the train/test split")]


def data_settings(data: str, rows: int, cols: int, threshold: int, test_fraction: float, split_seed: int) -> dict:
    """The settings of ``load_data`` that apply to the data set ``data``."""
    if data == "bas":
        return {"rows": rows, "cols": cols}
    return {"threshold": threshold, "test_fraction": test_fraction, "split_seed": split_seed}


def load_data(name: str, settings: dict) -> dict:
    """Training (and test) images of a data set.

    Parameters
    ----------
    name : str
        ``bas`` (settings ``rows``, ``cols``) or ``digits`` (settings
        ``threshold``, ``test_fraction``, ``split_seed``).

    Returns
    -------
    dict
        ``train`` (N, n) and ``test`` ((M, n) or None) uint8 arrays,
        ``shape`` (rows, cols), ``floor``: the smallest possible training
        NLL (ln #patterns for ``bas``; None for ``digits``).
    """
    if name == "bas":
        rows, cols = int(settings["rows"]), int(settings["cols"])
        train = bars_and_stripes(rows, cols)
        return {"train": train, "test": None, "shape": (rows, cols), "floor": math.log(len(train))}
    if name == "digits":
        train, test = digits(
            threshold=int(settings["threshold"]),
            test_fraction=float(settings["test_fraction"]),
            seed=int(settings.get("split_seed", 0)),
        )
        return {"train": train, "test": test if len(test) else None, "shape": DIGITS_SHAPE, "floor": None}
    raise ValueError(f"data set must be one of {DATASETS}, got {name!r}")


def _var(values, dims, long_name, units="1"):
    return xr.DataArray(values, dims=dims, attrs={"long_name": long_name, "units": units})


def train_point(
    data: Data,
    max_bond: Annotated[int, Option("maximal bond dimension D_max", low=1)],
    *,
    rows: Rows = DATA_DEFAULTS["rows"],
    cols: Cols = DATA_DEFAULTS["cols"],
    threshold: Threshold = DATA_DEFAULTS["threshold"],
    test_fraction: TestFraction = DATA_DEFAULTS["test_fraction"],
    split_seed: SplitSeed = DATA_DEFAULTS["split_seed"],
    sweeps: Annotated[int, Option("sweeps (left-right and back)", low=0)] = SweepOptions.sweeps,
    learning_rate: Annotated[float, Option("gradient step on the two-site tensor", low=0, open=True)] = SweepOptions.learning_rate,
    cutoff: Annotated[float, Option("relative SVD cutoff in [0, 1)", low=0)] = SweepOptions.cutoff,
    steps_per_bond: Annotated[int, Option("gradient steps per bond", low=1)] = SweepOptions.steps_per_bond,
    max_halvings: Annotated[int, Option("backtracking halvings of the step", low=0)] = SweepOptions.max_halvings,
    init_bond: Annotated[int, Option("bond dimension of the random start", low=1)] = 2,
    seed: Annotated[int, Option("seed of the initial MPS and of the samples")] = 0,
    n_samples: Annotated[int, Option("zipper samples for the sample statistics", low=0)] = 10_000,
    device: Device = "auto",
    dtype: Dtype = "float64",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Train a Born machine on one data set at one maximal bond dimension.

    The data set's settings are ``rows``, ``cols`` (bas) or ``threshold``,
    ``test_fraction``, ``split_seed`` (digits; ``load_data``); the training
    options are those of ``SweepOptions`` and ``init_bond``.  ``n_samples``
    zipper samples from the trained model give the sample statistics (bars and
    stripes: fraction of valid patterns, distinct patterns).

    Returns
    -------
    xarray.Dataset
        NLL history over ``sweep``, final values, baseline, sample statistics
        and the MPS (layout in the module docstring), with provenance attributes.
    """
    check_bounds(train_point, locals())
    dev, dt = runtime.resolve_device(device), runtime.resolve_dtype(dtype)
    name, settings = data, data_settings(data, rows, cols, threshold, test_fraction, split_seed)
    train = {"sweeps": sweeps, "learning_rate": learning_rate, "cutoff": cutoff, "steps_per_bond": steps_per_bond,
             "max_halvings": max_halvings, "init_bond": init_bond}  # fmt: skip
    options = SweepOptions(max_bond=int(max_bond), **{k: v for k, v in train.items() if k != "init_bond"})
    data = load_data(name, settings)
    images, test = data["train"], data["test"]
    rows, cols = data["shape"]
    with runtime.measure(dev) as cost:
        mps0 = random_mps(rows * cols, min(init_bond, max_bond), seed=seed, dtype=dt, device=dev)
        mps, info = train_sweeps(mps0, images, options, test_data=test)
        x = sample(mps, n_samples, seed=seed + 1).cpu().numpy().astype(np.uint8)
    flat, bonds = to_flat(mps)
    sweeps = np.arange(len(info.nll_train))
    ds = xr.Dataset(
        {
            "train_nll": _var(info.nll_train[-1], (), "training NLL per image after the last sweep", "nat"),
            "train_nll_history": _var(info.nll_train, ("sweep",), "training NLL per image", "nat"),
            "max_bond_history": _var(info.max_bond, ("sweep",), "largest bond dimension of the MPS"),
            "truncation_error_history": _var(
                info.truncation_error, ("sweep",), "largest discarded weight sum s_i^2/sum s^2 in the sweep"
            ),
            "elapsed_history": _var(info.elapsed_s, ("sweep",), "wall time since the start of training", "s"),
            "baseline_train_nll": _var(
                independent_pixel_nll(images, alpha=1.0), (), "independent-pixel model (Laplace), training NLL", "nat"
            ),
            "bond_dimension": _var(bonds, ("bond",), "MPS bond dimensions D_0..D_n (site k: D_k x 2 x D_k+1)"),
            "mps_data": _var(flat, ("mps_element",), "MPS site tensors [left, pixel, right], C order, site after site"),
            "sample_count": _var(len(x), (), "zipper samples drawn for the statistics"),
        },
        coords={
            "max_bond": _var(int(max_bond), (), "maximal bond dimension D_max"),
            "sweep": _var(sweeps, ("sweep",), "sweep (0: the random initial MPS)"),
        },
    )
    if test is not None:
        ds["test_nll"] = _var(info.nll_test[-1], (), "test NLL per image after the last sweep", "nat")
        ds["test_nll_history"] = _var(info.nll_test, ("sweep",), "test NLL per image", "nat")
        ds["baseline_test_nll"] = _var(
            independent_pixel_nll(images, test, alpha=1.0), (), "independent-pixel model (Laplace), test NLL", "nat"
        )
        counts = images.sum(axis=0)
        unseen = ((test == 1) & (counts == 0)) | ((test == 0) & (counts == len(images)))
        ds["test_images_unseen_pixel"] = _var(
            int(unseen.any(axis=1).sum()), (), "test images with a pixel value that no training image has there"
        )
    if data["floor"] is not None:
        ds["nll_floor"] = _var(data["floor"], (), "smallest possible NLL: ln(number of patterns)", "nat")
    if name == "bas":
        valid = is_bars_and_stripes(x, rows, cols)
        ds["valid_fraction"] = _var(float(valid.mean()) if len(x) else np.nan, (), "share of samples that are patterns")
        distinct = len(np.unique(x[valid], axis=0)) if valid.any() else 0
        ds["distinct_patterns"] = _var(distinct, (), "distinct valid patterns among the samples")
        ds["pattern_count"] = _var(len(images), (), "number of bars-and-stripes patterns")
    parameters = {"data": name, "max_bond": int(max_bond), "seed": seed, "n_samples": n_samples,
                  "settings": settings, "train": train}  # fmt: skip
    ds.attrs.update(
        {
            "title": "MPS Born machine trained by two-site sweeps",
            "data": name,
            "rows": rows,
            "cols": cols,
            "phys_dim": 2,
            "center": 0,
            "seed": seed,
            "data_settings": json.dumps(settings, sort_keys=True),
            "mps_layout": "site k = mps_data[sum_{j<k} D_j*2*D_{j+1} :][: D_k*2*D_{k+1}].reshape(D_k, 2, D_{k+1}); "
            "canonical, center 0, Z = 1; pixels in raster order",
        }
    )
    ds.attrs.update(
        provenance_attrs(
            stage="born_train", parameters=parameters, modules=MODULES, device=dev, dtype=dt,
            config_hash=config_hash, **cost,
        )
    )  # fmt: skip
    extra = f", test {float(ds.test_nll):.4f}" if "test_nll" in ds else ""
    if "valid_fraction" in ds:
        extra += f", {float(ds.valid_fraction):.2%} valid samples, {int(ds.distinct_patterns)} distinct patterns"
    log.info("%s Dmax=%d: NLL train %.6f%s (independent pixels %.4f), largest bond %d, %.1f s", name, max_bond,
             float(ds.train_nll), extra, float(ds.baseline_train_nll), int(ds.bond_dimension.max()),
             ds.attrs["wall_time_s"])  # fmt: skip
    return ds


def load_model(source, device: str = "cpu", dtype: str = "float64"):
    """The trained MPS of a model file (path or Dataset): returns (MPS, Dataset)."""
    ds = source if isinstance(source, xr.Dataset) else read_dataset(source)
    if "mps_data" not in ds:
        raise ValueError("not a Born-machine model file: no variable 'mps_data'")
    mps = from_flat(
        ds.mps_data.values,
        ds.bond_dimension.values,
        phys_dim=int(ds.attrs["phys_dim"]),
        center=int(ds.attrs["center"]),
        dtype=runtime.resolve_dtype(dtype),
        device=runtime.resolve_device(device),
    )
    return mps, ds


def _hidden_mask(rows: int, cols: int, hide: str) -> np.ndarray:
    """(rows, cols) bool: True where the pixel is hidden (drawn), False where given."""
    if hide not in HIDE:
        raise ValueError(f"hide must be one of {HIDE}, got {hide!r}")
    mask = np.zeros((rows, cols), dtype=bool)
    if hide == "bottom":
        mask[rows - rows // 2 :] = True
    elif hide == "top":
        mask[: rows // 2] = True
    elif hide == "left":
        mask[:, : cols // 2] = True
    else:
        mask[:, cols - cols // 2 :] = True
    return mask


@dataclass(frozen=True)
class SampleSettings:
    """What a sample stage draws (the Born machine's and the positive PEPS's)."""

    n_samples: Annotated[int, Option("independent samples", low=0)] = 48
    n_images: Annotated[int, Option("images to inpaint (test images for digits, patterns for bas)", low=0)] = 6
    completions: Annotated[int, Option("completions per image", low=1)] = 4
    hide: Annotated[Literal[HIDE], Option("half of each image that is drawn; the other half is given")] = "bottom"
    seed: Annotated[int, Option("seed of the images' choice and of all samples")] = 0

    def __post_init__(self):
        check_fields(self)


def sample_point(
    model: Annotated[Path, Option("model file from 'difftn born train'", file=True)],
    settings: SampleSettings = SampleSettings(),
    *,
    device: Device = "auto",
    config_hash: ConfigHash = "none",
) -> xr.Dataset:
    """Samples and inpainting from a trained model file (``model``: a path or a ``train_point`` result)."""
    dev = runtime.resolve_device(device)
    mps, meta = load_model(model, device=str(dev))

    def draw_given(given, keep, seed):  # the MPS sampler takes one mask per image
        fixed = torch.as_tensor(np.broadcast_to(keep, given.shape).copy())
        return conditional_sample(mps, torch.as_tensor(given).long(), fixed, seed=seed)

    return samples_dataset(meta, lambda n, seed: sample(mps, n, seed=seed), draw_given, settings, dev=dev,
                           dtype=mps.tensors[0].dtype, model_dim="max_bond", kind="zipper",
                           title="Born machine samples and inpainting", stage="born_sample", modules=MODULES,
                           config_hash=config_hash)


def samples_dataset(meta, draw, draw_given, settings: dict, *, dev, dtype, model_dim: str, kind: str, title: str,
                    stage: str, modules: tuple, config_hash: str) -> xr.Dataset:
    """Samples and inpainting of a trained generative model (shared by the Born machine and positive PEPS).

    ``draw(n, seed)``: n independent samples; ``draw_given(given, keep, seed)``:
    the images ``given`` (N, n) completed where ``keep`` (n,) is False.
    """
    n_samples, n_images, completions, hide, seed = (settings.n_samples, settings.n_images, settings.completions,
                                                    settings.hide, settings.seed)  # fmt: skip
    rows, cols, name = int(meta.attrs["rows"]), int(meta.attrs["cols"]), meta.attrs["data"]
    data = load_data(name, json.loads(meta.attrs["data_settings"]))
    pool = data["test"] if data["test"] is not None else data["train"]
    rng = np.random.default_rng(seed)
    originals = pool[np.sort(rng.choice(len(pool), size=min(n_images, len(pool)), replace=False))]
    hidden = _hidden_mask(rows, cols, hide)
    with runtime.measure(dev) as cost:
        x = draw(n_samples, seed).cpu().numpy().astype(np.uint8)
        given = np.repeat(originals, completions, axis=0)
        filled = draw_given(given, ~hidden.ravel(), seed + 1).cpu().numpy().astype(np.uint8)
    k = len(originals)
    ds = xr.Dataset(
        {
            "samples": _var(x.reshape(-1, rows, cols), ("sample", "row", "col"), f"independent {kind} samples"),
            "inpaint_original": _var(originals.reshape(k, rows, cols), ("image", "row", "col"), "images to inpaint"),
            "inpaint_hidden": _var(hidden.astype(np.uint8), ("row", "col"), "1: pixel drawn, 0: pixel given"),
            "inpaint_completion": _var(
                filled.reshape(k, completions, rows, cols), ("image", "completion", "row", "col"),
                "samples of the hidden half given the other half",
            ),
        },
        coords={model_dim: meta[model_dim]},
    )  # fmt: skip
    if name == "bas":
        ds["sample_valid"] = _var(is_bars_and_stripes(x, rows, cols).astype(np.uint8), ("sample",), "1: valid pattern")
        ok = is_bars_and_stripes(filled, rows, cols).reshape(k, completions)
        ds["inpaint_valid"] = _var(ok.astype(np.uint8), ("image", "completion"), "1: completion is a valid pattern")
    ds.attrs.update({"title": title, "data": name, "rows": rows, "cols": cols, "hide": hide,
                     "model_source_hash": meta.attrs.get("source_hash", "unknown")})  # fmt: skip
    ds.attrs.update(
        provenance_attrs(
            stage=stage, parameters={**asdict(settings), model_dim: int(meta[model_dim]), "data": name},
            modules=modules,
            device=dev, dtype=dtype, config_hash=config_hash, **cost,
        )
    )  # fmt: skip
    log.info("%d samples, %d x %d inpaintings", ds.sizes["sample"], ds.sizes["image"], ds.sizes["completion"])
    return ds


_SUMMARY = (
    "train_nll", "test_nll", "valid_fraction", "distinct_patterns", "sample_count", "test_images_unseen_pixel",
)  # fmt: skip
_CONSTANT = ("baseline_train_nll", "baseline_test_nll", "nll_floor", "pattern_count")


def stack_models(paths, dim: str, key, long_name: str, summary, constant, extra=lambda points: {}):
    """Model files of one data set, sorted along ``dim`` (a generative-model aggregate).

    ``key(ds)``: a file's value of ``dim``; ``summary``: per-file scalars stacked
    along ``dim``; ``extra(points)``: further columns (name -> values, long name);
    ``constant``: variables equal in every file (taken from the first).  Raises
    ValueError if the files mix data sets or data settings, or repeat a value.
    Returns (table, sorted points, read cost).
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        points = [read_dataset(p) for p in paths]
    if not points:
        raise ValueError("aggregate: no input files")
    keys = {(ds.attrs["data"], ds.attrs["data_settings"]) for ds in points}
    if len(keys) != 1:
        raise ValueError(f"aggregate: files mix data sets or settings {sorted(keys)}")
    values = [key(ds) for ds in points]
    if len(set(values)) != len(values):
        raise ValueError(f"aggregate: the same {dim} appears twice in {sorted(values)}")
    points = [points[i] for i in np.argsort(values)]
    first = points[0]
    out = xr.Dataset(coords={dim: _var(sorted(values), (dim,), long_name)})
    for name in summary:
        if name in first:
            out[name] = xr.DataArray([ds[name].values[()] for ds in points], dims=dim, attrs=first[name].attrs)
    for name, (column, long) in extra(points).items():
        out[name] = _var(column, dim, long)
    for name in ("wall_time_s", "peak_memory_mb"):
        out[name] = _var([float(ds.attrs[name]) for ds in points], dim, f"{name} of the training stage")
    for name in constant:
        if name in first:
            out[name] = first[name].drop_vars(dim, errors="ignore")
    out.attrs = {k: first.attrs[k] for k in ("data", "rows", "cols", "data_settings") if k in first.attrs}
    return out, points, read_cost


def aggregate(paths) -> xr.Dataset:
    """Model files of one data set along ``max_bond`` (sorted): final NLLs, bonds, costs, baseline.

    Raises ValueError if the files mix data sets or data settings, or repeat a max_bond.
    """
    out, points, read_cost = stack_models(
        paths, "max_bond", lambda ds: int(ds.max_bond), "maximal bond dimension D_max", _SUMMARY, _CONSTANT,
        extra=lambda points: {
            "bond_reached": ([int(ds.bond_dimension.max()) for ds in points], "largest bond dimension reached"),
            "sweeps": ([int(ds.sweep.size) - 1 for ds in points], "training sweeps"),
        },
    )  # fmt: skip
    out.attrs["title"] = f"Born machine NLL against the maximal bond dimension ({out.attrs['data']})"
    out.attrs.update(aggregate_attrs(points, stage="born_aggregate", modules=MODULES, **read_cost))
    return out


#: The stages of ``difftn born ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "train": Stage("difftn.studies.born:train_point", "two-site sweep training at one maximal bond dimension"),
    "sample": Stage("difftn.studies.born:sample_point", "exact samples and inpainting from a model file"),
    "aggregate": Stage("difftn.studies.born:aggregate", "model files of one data set -> table over D_max", "table"),
    "figure": Stage("", "nll: NLL against D_max (one panel per file); samples: samples and inpainting", "figure",
                    {"nll": ("difftn.plots.born:born_nll", True), "samples": ("difftn.plots.born:born_samples", False)}),
}
