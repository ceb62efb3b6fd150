"""Fig. 3: Ising energy and specific heat by TRG + AD against Onsager."""

import numpy as np

from ..models import ising
from .common import plt

__all__ = ["ising_fig3"]


def ising_fig3(summaries: list, title: str | None = None):
    """Energy and specific heat of the 2D Ising model by TRG + AD against Onsager.

    Parameters
    ----------
    summaries : list of xarray.Dataset
        Aggregated Ising results (dimension ``beta``), one per (chi, steps).

    Returns
    -------
    matplotlib.figure.Figure
        Three panels: (a) energy per site, (b) specific heat per site, both
        TRG + AD points over the exact curves; (c) deviation from exact.
        beta_c is marked in every panel.
    """
    if not summaries:
        raise ValueError("ising_fig3: no data")
    lo = min(float(ds.beta.min()) for ds in summaries)
    hi = max(float(ds.beta.max()) for ds in summaries)
    pad = 0.02 * (hi - lo if hi > lo else 1.0)
    grid = np.linspace(max(lo - pad, 1e-3), hi + pad, 801)
    grid = grid[np.abs(grid - ising.BETA_C) > 1e-6]  # the exact C diverges at beta_c

    fig, (ax_e, ax_c, ax_d) = plt.subplots(3, 1, figsize=(6.4, 8.6), sharex=True, constrained_layout=True)
    ax_e.plot(grid, ising.exact_energy(grid), "k-", lw=1, label="exact (Onsager)")
    ax_c.plot(grid, ising.exact_specific_heat(grid), "k-", lw=1, label="exact (Onsager)")
    markers = "osD^v"
    for i, ds in enumerate(summaries):
        label = f"TRG+AD, $\\chi$={ds.attrs['chi']}, {ds.attrs['steps']} steps"
        m = markers[i % len(markers)]
        beta = ds.beta.values
        ax_e.plot(beta, ds.energy, m, mfc="none", label=label)
        ax_c.plot(beta, ds.specific_heat, m, mfc="none", label=label)
        de = np.abs(ds.energy - ds.energy_exact)
        dc = np.abs(ds.specific_heat / ds.specific_heat_exact - 1)
        ax_d.semilogy(beta, de, m + "-", mfc="none", lw=0.6, label=f"|$\\Delta E$|, $\\chi$={ds.attrs['chi']}")
        ax_d.semilogy(beta, dc, m + "--", lw=0.6, label=f"|$\\Delta C/C$|, $\\chi$={ds.attrs['chi']}")
    for ax in (ax_e, ax_c, ax_d):
        ax.axvline(ising.BETA_C, color="0.5", ls=":", lw=1)
    ax_c.annotate(r"$\beta_c$", (ising.BETA_C, 0.95), xycoords=("data", "axes fraction"), ha="left")
    ax_e.set_ylabel("energy per site $E/N$")
    ax_c.set_ylabel("specific heat per site $C/N$")
    ax_d.set_ylabel("deviation from exact")
    ax_d.set_xlabel(r"inverse temperature $\beta$")
    for ax, tag in zip((ax_e, ax_c, ax_d), "abc"):
        ax.legend(fontsize="small")
        ax.set_title(f"({tag})", loc="left")
    fig.suptitle(title or "2D Ising model: TRG with automatic differentiation")
    return fig
