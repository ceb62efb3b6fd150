"""Figures of the spin-glass study: datasets in, matplotlib Figure out.

Saved with ``difftn.plots.common.save_figure`` (PNG + PDF).
"""

import numpy as np

from .common import plt

__all__ = ["spinglass_convergence", "spinglass_correlations", "positive"]

#: Errors below this are drawn at it (exact results on a log axis).
FLOOR = 1e-16


def positive(values):
    v = np.abs(np.asarray(values, dtype=float))
    return np.where(np.isfinite(v), np.maximum(v, FLOOR), np.nan)


def spinglass_convergence(summary, title: str | None = None):
    """chi-convergence of ln Z and of the bond correlations, one line per (L, seed).

    Parameters
    ----------
    summary : xarray.Dataset
        Output of ``difftn.studies.spinglass.aggregate`` (dims L, seed, chi).

    Returns
    -------
    matplotlib.figure.Figure
        (a) |ln Z - ln Z_ref| per site against chi, (b) max |<s_i s_j> -
        reference| against chi, log scales; solid lines: exact reference
        (transfer matrix), dashed: the largest chi (whose own point is left
        out).  Errors below 1e-16 are drawn at 1e-16.
    """
    fig, (ax_z, ax_c) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    chi = summary.chi.values
    for a, L in enumerate(summary.L.values):
        for b, seed in enumerate(summary.seed.values):
            exact = bool(summary.reference_exact.values[a, b])
            err_z = summary.lnz_error.values[a, b] / L**2
            err_c = summary.correlation_error.values[a, b].copy()
            if not exact:  # the reference point itself has error 0 by construction
                last = np.nanargmax(np.where(np.isfinite(err_z), chi, -1))
                err_z[last] = err_c[last] = np.nan
            style = dict(color=f"C{a}", ls="-" if exact else "--", marker="os^Dv"[b % 5], mfc="none")
            ref = "exact" if exact else f"$\\chi$={chi.max()}"
            label = f"L={L}, seed {seed} (vs {ref})"
            ax_z.semilogy(chi, positive(err_z), label=label, **style)
            ax_c.semilogy(chi, positive(err_c), label=label, **style)
    for ax in (ax_z, ax_c):
        ax.set_xscale("log", base=2)
        ax.set_xlabel(r"boundary-MPS bond dimension $\chi$")
        ax.legend(fontsize="small")
    ax_z.set_ylabel(r"$|\ln Z - \ln Z_{\rm ref}| / L^2$")
    ax_c.set_ylabel(r"$\max_{\langle ij\rangle} |\langle s_i s_j\rangle - \langle s_i s_j\rangle_{\rm ref}|$")
    ax_z.set_title("(a)", loc="left")
    ax_c.set_title("(b)", loc="left")
    fig.suptitle(title or "Gaussian spin glass, open L x L: boundary MPS + AD against the reference")
    return fig


def spinglass_correlations(datasets: list, title: str | None = None):
    """Every bond correlation of one instance by boundary MPS against its reference.

    Parameters
    ----------
    datasets : list of xarray.Dataset
        Point files (stage ``spinglass``) of one (L, seed) at several chi and,
        if present, its exact file (stage ``spinglass_exact``), which becomes
        the reference; without it the largest chi is the reference.

    Returns
    -------
    matplotlib.figure.Figure
        (a) <s_i s_j> at the largest non-reference chi against the reference,
        with the diagonal; (b) |error| per bond for each chi (log scale).
    """
    points = sorted((ds for ds in datasets if ds.attrs["difftn_stage"] == "spinglass"), key=lambda ds: int(ds.chi))
    exact = [ds for ds in datasets if ds.attrs["difftn_stage"] == "spinglass_exact"]
    if not points:
        raise ValueError("spinglass_correlations: no point files")
    instances = {(int(ds.L), int(ds.seed)) for ds in points + exact}
    if len(instances) != 1:
        raise ValueError(f"spinglass_correlations: files of several instances {sorted(instances)}")
    (L, seed), = instances
    if exact:
        ref, ref_label, shown = exact[0], "exact (transfer matrix)", points
    else:
        ref, ref_label, shown = points[-1], f"$\\chi$={int(points[-1].chi)}", points[:-1] or points
    fig, (ax_s, ax_e) = plt.subplots(1, 2, figsize=(10, 4.4), constrained_layout=True)
    best = shown[-1]
    ax_s.plot([-1, 1], [-1, 1], color="0.6", lw=1)
    ax_s.plot(ref.correlation, best.correlation, "o", mfc="none", ms=4, label=f"$\\chi$={int(best.chi)}")
    ax_s.set_xlabel(rf"$\langle s_i s_j\rangle$, {ref_label}")
    ax_s.set_ylabel(r"$\langle s_i s_j\rangle = \partial \ln Z/\partial K_{ij}$, boundary MPS + AD")
    ax_s.set_aspect("equal")
    ax_s.legend(fontsize="small")
    for i, ds in enumerate(shown):
        err = positive(ds.correlation - ref.correlation)
        # Open markers shrinking with chi, so coinciding (exact) sets stay visible.
        ax_e.semilogy(ds.bond.values, err, "osD^v"[i % 5], mfc="none", ms=max(3, 8 - 1.2 * i), color=f"C{i}",
                      label=f"$\\chi$={int(ds.chi)}")  # fmt: skip
    ax_e.set_xlabel("bond (horizontal row-major, then vertical)")
    ax_e.set_ylabel(r"$|\langle s_i s_j\rangle - {\rm reference}|$")
    ax_e.legend(fontsize="small", ncol=2)
    ax_s.set_title("(a)", loc="left")
    ax_e.set_title("(b)", loc="left")
    fig.suptitle(title or f"Bond correlations of one Gaussian spin glass, L={L}, seed {seed}")
    return fig
