"""The J1-J2 sweep: energy and staggered magnetization against J2/J1 per D, beside published values."""

import numpy as np

from ..data import reference
from .common import plt

__all__ = ["j1j2_energy"]


def j1j2_energy(summary, title: str | None = None):
    """Energy and magnetization of the C4v iPEPS against J2/J1, one line per D, published values as squares.

    Parameters
    ----------
    summary : xarray.Dataset
        Output of ``difftn.studies.j1j2.aggregate`` (dimensions ``J2``, ``D``).

    Returns
    -------
    matplotlib.figure.Figure
        (a) energy per site against J2/J1; (b) staggered magnetization;
        (c) our energy minus the published one where a published state exists
        (Hasik, Poilblanc, Becca, SciPost Phys. 10, 012 (2021): J2/J1 = 0 and 0.5),
        symmetric log scale, linear within 1e-10 (the published values keep 10 decimals).
    """
    table = reference.j1j2_table()
    fig, (ax_e, ax_m, ax_d) = plt.subplots(1, 3, figsize=(14, 4.3), constrained_layout=True)
    J2 = summary.J2.values
    for i, D in enumerate(summary.D.values):
        color = f"C{i}"
        point = summary.sel(D=D)
        ax_e.plot(J2, point.energy, "o-", color=color, label=f"difftn D = {D} (chi = {int(point.chi.max())})")
        ax_m.plot(J2, point.magnetization, "o-", color=color, label=f"difftn D = {D}")
        rows = table[table.D == D]
        if len(rows):
            label = f"published D = {D} (Hasik et al. 2021)"
            ax_e.plot(rows.J2, rows.energy, "s", ms=11, mfc="none", mew=1.8, color=color, label=label)
            ax_m.plot(rows.J2, rows.magnetization, "s", ms=11, mfc="none", mew=1.8, color=color, label=label)
        known = np.isfinite(point.energy_published.values)
        if known.any():
            diff = point.energy.values[known] - point.energy_published.values[known]
            ax_d.plot(J2[known], diff, "o", ms=8, color=color, label=f"D = {D}")
    ax_d.axhline(0, color="k", lw=0.8)
    ax_d.axhspan(-5e-11, 5e-11, color="0.85", label="rounding of the cited values")
    ax_d.set_yscale("symlog", linthresh=1e-10)
    low, high = ax_d.get_ylim()
    ax_d.set_ylim(min(low, -1e-9), max(high, 1e-9))  # readable decades even when all points sit near 0
    ax_e.set_ylabel(r"energy per site $E/J_1$")
    ax_m.set_ylabel("staggered magnetization $m$")
    ax_d.set_ylabel(r"$(E - E_{\rm published})/J_1$")
    for ax, tag in zip((ax_e, ax_m, ax_d), "abc"):
        ax.set_xlabel("$J_2/J_1$")
        ax.set_title(f"({tag})", loc="left")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
    ax_d.set_title("ours minus published (largest listed chi)", fontsize="medium")
    fig.suptitle(title or r"$J_1$-$J_2$ Heisenberg model: single-site C4v iPEPS optimized with AD")
    return fig
