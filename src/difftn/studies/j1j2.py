"""The J1-J2 sweep (issue 13): energy and magnetization against J2/J1 per bond dimension D.

The points are computed by the Heisenberg study's stages with a J2 option
(``difftn heisenberg optimize --J2 x``, ``difftn heisenberg measure --J2 x``;
``difftn.studies.heisenberg``); this module adds the table over (J2, D) beside
the published single-site C4v iPEPS values (``difftn.data.reference.j1j2_table``)
and the figure (``difftn.plots.j1j2``).  Result paths:
``results/j1j2/J2_{format_J2(J2)}/D{D}_chi{chi}/...``.
"""

import re

import numpy as np
import xarray as xr

from ..data.reference import j1j2_published
from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import Stage
from ..infra.provenance import aggregate_attrs
from .heisenberg import MEASURE_MODULES, summary_row

__all__ = ["MODULES", "STAGES", "format_J2", "aggregate"]

#: Library modules whose source decides the table: the Heisenberg study's (its points and
#: ``summary_row``) and this one.
MODULES = MEASURE_MODULES + ("difftn.studies.j1j2",)

_DECIMAL = re.compile(r"-?\d+\.\d+")


def format_J2(J2: float) -> str:
    """J2/J1 as it appears in result paths: the shortest decimal of the float ("0.0", "0.5", "0.55").

    Raises ValueError for a value that has no plain decimal form (e.g. 1e-05).
    """
    text = repr(float(J2))
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"J2 = {J2!r} has no plain decimal form ({text}); write it with fewer digits")
    return text


def aggregate(observable_paths) -> xr.Dataset:
    """One row per (J2, D) from Heisenberg measurement files: at each point the largest measurement chi.

    Variables over (``J2``, ``D``): ``energy``, ``magnetization`` and ``chi``
    (at the largest measurement chi), ``energy_opt_chi`` (at the optimization
    chi), ``optimization_chi``, ``iterations``, and the published values
    ``energy_published``, ``magnetization_published``, ``chi_published``
    (NaN, NaN, 0 where none is listed; Hasik, Poilblanc, Becca 2021).
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        points = [read_dataset(p) for p in observable_paths]
    if not points:
        raise ValueError("aggregate: no input files")
    groups = {}
    for path, ds in zip(observable_paths, points):
        if ds.attrs.get("difftn_stage") != "heisenberg_measure":
            raise ValueError(f"{path} is not a Heisenberg measurement file (difftn heisenberg measure)")
        groups.setdefault((float(ds.attrs["J2"]), int(ds.D)), []).append(ds)
    rows = []
    for (J2, D), runs in sorted(groups.items()):
        published = j1j2_published(J2, D)
        row = summary_row(runs)
        rows.append({
            "J2": J2,
            "D": D,
            # the error against QMC (a J2 = 0 value) and xi are not part of this table
            **{k: row[k] for k in ("energy", "magnetization", "chi", "energy_opt_chi", "optimization_chi",
                                   "iterations")},
            "energy_published": published[1] if published else np.nan,
            "magnetization_published": published[2] if published else np.nan,
            "chi_published": published[0] if published else 0,
        })  # fmt: skip
    import pandas as pd

    ds = xr.Dataset.from_dataframe(pd.DataFrame(rows).set_index(["J2", "D"]))
    ds["energy"].attrs.update(long_name="energy per site (largest measurement chi)", units="J1")
    ds["magnetization"].attrs.update(long_name="staggered magnetization |<S>| (largest measurement chi)")
    ds["energy_published"].attrs.update(
        long_name="published C4v iPEPS energy per site (Hasik, Poilblanc, Becca, SciPost Phys. 10, 012 (2021)); "
        "NaN: none listed", units="J1")  # fmt: skip
    ds["magnetization_published"].attrs.update(long_name="published staggered magnetization; NaN: none listed")
    ds["chi_published"].attrs.update(long_name="chi of the published values; 0: none listed")
    ds["J2"].attrs.update(long_name="next-nearest-neighbour coupling J2/J1")
    ds.attrs["title"] = "J1-J2 iPEPS summary"
    ds.attrs.update(aggregate_attrs(points, stage="j1j2_aggregate", modules=MODULES, **read_cost))
    return ds


#: The stages of ``difftn j1j2 ...`` (difftn.cli); the points come from ``difftn heisenberg optimize|measure --J2``.
STAGES = {
    "aggregate": Stage("difftn.studies.j1j2:aggregate",
                       "Heisenberg measurements at several J2/J1 -> table over (J2, D) beside published values",
                       "table"),
    "figure": Stage("", "energy and magnetization against J2/J1 per D, published values beside them", "figure",
                    {"energy": ("difftn.plots.j1j2:j1j2_energy", False)}),
}  # fmt: skip
