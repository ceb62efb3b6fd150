"""Fig. 4: Heisenberg iPEPS energy and staggered magnetization against D."""

import numpy as np

from ..data import reference
from .common import plt

__all__ = ["heisenberg_fig4"]


def heisenberg_fig4(summary, title: str | None = None):
    """Heisenberg iPEPS results against QMC and earlier variational results (paper Fig. 4).

    Parameters
    ----------
    summary : xarray.Dataset
        Output of ``difftn.studies.heisenberg.aggregate`` (dimension ``D``).

    Returns
    -------
    matplotlib.figure.Figure
        (a) relative energy error (E - E_QMC)/|E_QMC| against D, log scale,
        ours beside Corboz 2016, Vanderstraeten et al. 2016, Liao et al.
        2019 and the best known energies of the same single-site C4v ansatz
        (Hasik et al. 2021, at their largest chi); (b) staggered magnetization
        against D with the QMC value dashed.
    """
    table = reference.heisenberg_table()
    fig, (ax_e, ax_m) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    styles = {"corboz2016": ("s", "Corboz 2016"), "vanderstraeten2016": ("^", "Vanderstraeten et al. 2016"),
              "liao2019": ("D", "Liao et al. 2019 (digitized)"),
              "hasik_c4v": ("x", "Hasik et al. 2021 (same ansatz, best known)")}  # fmt: skip
    for source, (marker, label) in styles.items():
        rows = table[table.source == source]
        rel = (rows.energy - reference.QMC_ENERGY) / abs(reference.QMC_ENERGY)
        ax_e.semilogy(rows.D, rel, marker, mfc="none", color="0.45", label=label)
        ax_m.plot(rows.D, rows.magnetization, marker, mfc="none", color="0.45", label=label)
    D = summary.D.values
    ax_e.semilogy(D, summary.energy_relative_error, "o-", color="C3", label="difftn (this work)")
    ax_m.plot(D, summary.magnetization, "o-", color="C3", label="difftn (this work)")
    ax_m.axhline(reference.QMC_MAGNETIZATION, color="k", ls="--", lw=1, label="QMC (Sandvik & Evertz 2010)")
    ax_e.set_xlabel("bond dimension $D$")
    ax_e.set_ylabel(r"$(E - E_{\rm QMC})/|E_{\rm QMC}|$, QMC: Sandvik 1997")
    ax_m.set_xlabel("bond dimension $D$")
    ax_m.set_ylabel("staggered magnetization $m$")
    for ax, tag in zip((ax_e, ax_m), "ab"):
        ax.legend(fontsize="small")
        ax.set_title(f"({tag})", loc="left")
        ax.set_xticks(range(2, 8))
    fig.suptitle(title or "Square-lattice Heisenberg antiferromagnet: C4v iPEPS optimized with AD")
    return fig
