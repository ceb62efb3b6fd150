"""Correlation lengths from the CTMRG column transfer matrix: the tables behind two figures.

The points come from stages that exist elsewhere; this study stacks them:

* ``difftn ising xi`` (``difftn.studies.ising.correlation_point``): the 2D Ising
  correlation length xi = -1/ln|lambda_1/lambda_0| at one (beta, chi), beside the
  exact value (McCoy & Wu) on both sides of beta_c;
* ``difftn heisenberg measure`` of a published C4v iPEPS state
  (``difftn.data.reference.published_state_path``; Hasik, Poilblanc, Becca 2021)
  at one chi: energy, |lambda_i/lambda_0| of the column transfer matrix and xi.

``aggregate`` takes files of either kind (never mixed): Ising points become a table
over (chi, beta), measurements one over (D, chi).  The figures are in
``difftn.plots.correlation``.
"""

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..infra import runtime
from ..infra.io import read_dataset
from ..infra.options import Stage
from ..infra.provenance import aggregate_attrs

log = logging.getLogger(__name__)

__all__ = ["MODULES", "STAGES", "aggregate"]

#: Library modules whose source determines a correlation table (the points record their own).
MODULES = ("difftn.studies.correlation",)

#: Transfer-matrix levels listed per measurement (``difftn.studies.heisenberg.TRANSFER_LEVELS``).
_LEVELS = 6


def _ising_rows(points):
    rows = []
    for ds in points:
        xi, exact = float(ds.correlation_length), float(ds.correlation_length_exact)
        xi_qp = float(ds.correlation_length_quasiparticle)
        rows.append({"chi": int(ds.attrs["chi"]), "beta": float(ds.beta), "correlation_length": xi,
                     "correlation_length_quasiparticle": xi_qp, "correlation_length_exact": exact,
                     "relative_error": xi / exact - 1, "relative_error_quasiparticle": xi_qp / exact - 1,
                     "ctm_iterations": int(ds.ctm_iterations),
                     "wall_time_s": float(ds.attrs["wall_time_s"])})  # fmt: skip
    return rows, ["chi", "beta"], {
        "correlation_length": ("xi = -1/ln|lambda_1/lambda_0| of the CTMRG column transfer matrix", "1"),
        "correlation_length_quasiparticle": ("xi from the quasiparticle gap at k = 0 on the CTMRG boundary", "1"),
        "correlation_length_exact": ("exact xi (McCoy & Wu), both sides of beta_c", "1"),
        "relative_error": ("xi / xi_exact - 1", "1"),
        "relative_error_quasiparticle": ("xi_quasiparticle / xi_exact - 1", "1"),
    }, "2D Ising correlation length by CTMRG against exact"


def _heisenberg_rows(points):
    J2 = {float(ds.attrs["J2"]) for ds in points}
    if len(J2) != 1:
        raise ValueError(f"aggregate: the measurements mix J2 values {sorted(J2)}")
    rows = []
    for ds in points:
        levels = np.asarray(ds.transfer_eigenvalues.values, dtype=float)
        row = {"D": int(ds.D), "chi": int(ds.chi), "energy": float(ds.energy),
               "magnetization": float(ds.magnetization), "correlation_length": float(ds.correlation_length),
               **{f"transfer_l{i}": levels[i] if i < len(levels) else np.nan for i in range(_LEVELS)},
               "ctm_iterations": int(ds.ctm_iterations), "truncation_error": float(ds.truncation_error),
               "wall_time_s": float(ds.attrs["wall_time_s"])}  # fmt: skip
        rows.append(row)
    variables = {
        "energy": ("energy per site", "J"),
        "magnetization": ("staggered magnetization |<S>|", "1"),
        "correlation_length": ("xi = -1/ln|lambda_1/lambda_0| of the column transfer matrix E-T-E",
                               "lattice spacing"),
        **{f"transfer_l{i}": (f"|lambda_{i} / lambda_0| of the column transfer matrix", "1") for i in range(_LEVELS)},
    }  # fmt: skip
    return rows, ["D", "chi"], variables, "iPEPS correlation length against chi"


def aggregate(paths) -> xr.Dataset:
    """One table from Ising xi points (``difftn ising xi``) or iPEPS measurements (``difftn heisenberg measure``).

    Ising points give a table over (chi, beta): ``correlation_length``,
    ``correlation_length_exact``, ``relative_error`` (xi/xi_exact - 1),
    ``ctm_iterations``, ``wall_time_s``.  Measurements give one over (D, chi):
    ``energy``, ``magnetization``, ``correlation_length``, ``transfer_l0`` ..
    ``transfer_l5`` (|lambda_i/lambda_0|, the published .dat's l0..l5),
    ``ctm_iterations``, ``truncation_error``, ``wall_time_s``; attribute ``J2``
    and the state files.

    Raises ValueError if there are no files, the files mix the two kinds (or
    hold something else), the measurements mix J2 values, or a (chi, beta) or
    (D, chi) appears twice.
    """
    with runtime.measure() as read_cost:  # reading dominates an aggregate's cost
        points = [read_dataset(p) for p in paths]
    if not points:
        raise ValueError("aggregate: no input files")
    kinds = sorted({str(ds.attrs.get("difftn_stage")) for ds in points})
    if kinds == ["ising_xi"]:
        rows, index, variables, title = _ising_rows(points)
    elif kinds == ["heisenberg_measure"]:
        rows, index, variables, title = _heisenberg_rows(points)
    else:
        raise ValueError(f"aggregate: needs files of 'difftn ising xi' or of 'difftn heisenberg measure', "
                         f"not a mixture; got stages {kinds}")  # fmt: skip
    frame = pd.DataFrame(rows).set_index(index).sort_index()
    if frame.index.has_duplicates:
        twice = frame.index[frame.index.duplicated()][0]
        where = ", ".join(f"{name} = {value}" for name, value in zip(index, twice))
        raise ValueError(f"aggregate: {where} appears twice")
    ds = xr.Dataset.from_dataframe(frame)
    for name, (long_name, units) in variables.items():
        ds[name].attrs.update(long_name=long_name, units=units)
    ds["wall_time_s"].attrs.update(long_name="wall time of the point's stage", units="s")
    ds.attrs["title"] = title
    if kinds == ["heisenberg_measure"]:
        ds.attrs["J2"] = float(points[0].attrs["J2"])
        ds.attrs["state_files"] = json.dumps(sorted({Path(str(p.attrs["state_file"])).name for p in points}))
    ds.attrs.update(aggregate_attrs(points, stage="correlation_aggregate", modules=MODULES, **read_cost))
    log.info("%s: %d points over %s", title, len(points), ", ".join(f"{k} {ds[k].values.tolist()}" for k in index))
    return ds


#: The stages of ``difftn correlation ...`` (difftn.cli): function, help, what the command writes.
STAGES = {
    "aggregate": Stage("difftn.studies.correlation:aggregate",
                       "Ising xi points -> table over (chi, beta); iPEPS measurements -> table over (D, chi)",
                       "table"),
    "figure": Stage("", "correlation length: Ising xi(beta) against exact; iPEPS xi against 1/chi", "figure",
                    {"ising": ("difftn.plots.correlation:ising_xi_figure", False),
                     "heisenberg": ("difftn.plots.correlation:heisenberg_xi_figure", False)}),
}  # fmt: skip
