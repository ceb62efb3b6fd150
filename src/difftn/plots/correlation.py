"""Correlation lengths from the CTMRG column transfer matrix: Ising xi(beta) against exact, iPEPS xi against chi."""

import numpy as np

from ..data import reference
from ..models import ising
from .common import plt

__all__ = ["ising_xi_figure", "heisenberg_xi_figure"]


def ising_xi_figure(summary, title: str | None = None):
    """Correlation length of the 2D Ising model by CTMRG against the exact one, both sides of beta_c.

    Parameters
    ----------
    summary : xarray.Dataset
        Output of ``difftn.studies.correlation.aggregate`` on Ising points
        (dimensions ``chi``, ``beta``).

    Returns
    -------
    matplotlib.figure.Figure
        (a) xi against beta, log scale: CTMRG points per chi (column transfer
        matrix: open markers; quasiparticle gap: crosses) over the exact
        curve (McCoy & Wu), beta_c dotted; (b) |xi/xi_exact - 1| per chi and
        method, log scale (values below 1e-16 drawn at 1e-16).
    """
    beta = summary.beta.values
    lo, hi = float(beta.min()), float(beta.max())
    pad = 0.03 * (hi - lo if hi > lo else 0.1)
    grid = np.linspace(max(lo - pad, 1e-3), hi + pad, 1601)
    grid = grid[np.abs(grid - ising.BETA_C) > 2e-4]  # xi diverges at beta_c
    exact = ising.exact_correlation_length(grid)
    fig, (ax_xi, ax_err) = plt.subplots(2, 1, figsize=(6.4, 6.8), sharex=True, constrained_layout=True,
                                        gridspec_kw={"height_ratios": [2, 1]})  # fmt: skip
    label = "exact (McCoy & Wu)"
    for side in (grid < ising.BETA_C, grid > ising.BETA_C):  # two branches, not joined across beta_c
        if side.any():
            ax_xi.semilogy(grid[side], exact[side], "k-", lw=1, label=label)
            label = None
    markers = "osD^v"
    for i, chi in enumerate(summary.chi.values):
        row = summary.sel(chi=chi)
        m = markers[i % len(markers)]
        ax_xi.semilogy(beta, row.correlation_length, m, mfc="none", color=f"C{i}",
                       label=f"transfer matrix, $\\chi$ = {int(chi)}")  # fmt: skip
        qp = "correlation_length_quasiparticle" in row
        if qp:
            ax_xi.semilogy(beta, row.correlation_length_quasiparticle, "x", color=f"C{i}",
                           label=f"quasiparticle gap, $\\chi$ = {int(chi)}")  # fmt: skip
        curves = [(row.relative_error.values, m + "-", "none", f"transfer, $\\chi$ = {int(chi)}")]
        if qp:
            curves.append((row.relative_error_quasiparticle.values, "x--", None, f"quasiparticle, $\\chi$ = {int(chi)}"))
        for values, style, face, label in curves:
            err = np.maximum(np.abs(values), 1e-16)  # exact to rounding: drawn at 1e-16
            for side in (beta < ising.BETA_C, beta > ising.BETA_C):  # lines not joined across beta_c
                if side.any():
                    ax_err.semilogy(beta[side], err[side], style, mfc=face, lw=0.6, color=f"C{i}", label=label)
                    label = None
    for ax in (ax_xi, ax_err):
        ax.axvline(ising.BETA_C, color="0.5", ls=":", lw=1)
    ax_xi.annotate(r"$\beta_c$", (ising.BETA_C, 0.95), xycoords=("data", "axes fraction"), ha="left")
    ax_xi.set_ylim(0.3 * np.nanmin(summary.correlation_length), 3 * np.nanmax(summary.correlation_length_exact))
    ax_xi.set_ylabel(r"correlation length $\xi$ (lattice spacings)")
    ax_err.set_ylabel(r"$|\xi_{\rm CTMRG}/\xi_{\rm exact} - 1|$")
    ax_err.set_xlabel(r"inverse temperature $\beta$")
    for ax, tag in zip((ax_xi, ax_err), "ab"):
        ax.legend(fontsize="small")
        ax.set_title(f"({tag})", loc="left")
    fig.suptitle(title or "2D Ising model: correlation length from the CTMRG environment")
    return fig


def heisenberg_xi_figure(summary, title: str | None = None):
    """Correlation length of the published C4v iPEPS states against 1/chi, one line per D.

    Parameters
    ----------
    summary : xarray.Dataset
        Output of ``difftn.studies.correlation.aggregate`` on measurements
        (dimensions ``D``, ``chi``).

    Returns
    -------
    matplotlib.figure.Figure
        xi against 1/chi, ours (filled, joined) per D beside the values
        -1/ln(l1) listed with the published states (open, same colour) at
        every listed chi (``difftn.data.reference.published_table``; J2 = 0 only).
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    for i, D in enumerate(summary.D.values):
        row = summary.sel(D=D).dropna("chi", subset=["correlation_length"])
        color = f"C{i}"
        ax.plot(1 / row.chi.values, row.correlation_length, "o-", color=color, label=f"$D$ = {int(D)}, difftn")
        if float(summary.attrs.get("J2", 0.0)) != 0.0:
            continue
        try:
            table = reference.published_table(int(D))
        except ValueError:  # no packaged state at this D
            continue
        ax.plot(1 / table.chi, -1 / np.log(table.l1), "s", mfc="none", color=color, ms=7,
                label=f"$D$ = {int(D)}, published")  # fmt: skip
    ax.set_xlim(left=0)
    ax.set_xlabel(r"$1/\chi$ (environment dimension $\chi$)")
    ax.set_ylabel(r"correlation length $\xi = -1/\ln|\lambda_1/\lambda_0|$")
    ax.legend(fontsize="small", ncol=2, title="states of Hasik, Poilblanc, Becca 2021", title_fontsize="small")
    fig.suptitle(title or "Heisenberg model, published C4v iPEPS states: correlation length against $\\chi$")
    return fig
