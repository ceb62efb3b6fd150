"""Figures: each function takes datasets and returns a matplotlib Figure."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import reference  # noqa: E402
from .models import ising  # noqa: E402

__all__ = ["ising_fig3", "heisenberg_fig4", "save_figure"]


def save_figure(fig, png_path) -> list:
    """Save ``fig`` as PNG (150 dpi) and as a PDF beside it; return both paths."""
    from pathlib import Path

    png = Path(png_path)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150)
    fig.savefig(png.with_suffix(".pdf"))
    plt.close(fig)
    return [png, png.with_suffix(".pdf")]


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
        ours beside Corboz 2016, Vanderstraeten et al. 2016 and Liao et al.
        2019; (b) staggered magnetization against D with the QMC value dashed.
    """
    table = reference.heisenberg_table()
    fig, (ax_e, ax_m) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    styles = {"corboz2016": ("s", "Corboz 2016"), "vanderstraeten2016": ("^", "Vanderstraeten et al. 2016"),
              "liao2019": ("D", "Liao et al. 2019 (digitized)")}  # fmt: skip
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
