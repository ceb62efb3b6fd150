"""Inverse Ising: recovery error of the couplings against the number of samples."""

import numpy as np

from .common import plt
from .spinglass import positive

__all__ = ["inverse_ising_recovery"]


def inverse_ising_recovery(summary, title: str | None = None):
    """Coupling recovery error against the number of samples N (log-log).

    Parameters
    ----------
    summary : xarray.Dataset
        Output of ``difftn.studies.inverse_ising.aggregate``.

    Returns
    -------
    matplotlib.figure.Figure
        rms error (mean over repeats, bars: standard deviation) against N,
        the Cramer-Rao prediction sqrt(tr(I^-1)/n_bonds/N) from second-order
        AD, and a 1/sqrt(N) guide through the first point; the fitted slope
        and the exact-moment error in the legend.
    """
    N = summary.N.values.astype(float)
    fig, ax = plt.subplots(figsize=(6.4, 4.6), constrained_layout=True)
    rms = summary.rms_error.values
    yerr = np.nan_to_num(summary.rms_error_std.values)
    ax.errorbar(N, rms, yerr=yerr, fmt="o", mfc="none", capsize=3,
                label=f"L-BFGS fit to N samples (slope {summary.attrs['slope']:.3f})")  # fmt: skip
    grid = np.geomspace(N.min(), N.max(), 50)
    ax.loglog(grid, float(summary.cramer_rao_rms) / np.sqrt(grid), "k--", lw=1,
              label=r"Cramer-Rao $\sqrt{{\rm tr}\, I^{-1}/(n_{\rm bonds} N)}$, $I = \partial^2 \ln Z$ by AD")  # fmt: skip
    ax.loglog(grid, rms[0] * np.sqrt(N[0] / grid), ":", color="0.5", label=r"$\propto 1/\sqrt{N}$")
    ax.set_xlabel("number of samples $N$")
    ax.set_ylabel(r"rms error of the couplings $K_{ij}$")
    ax.legend(fontsize="small", title=f"exact moments: max error {float(summary.exact_max_error):.1e}",
              title_fontsize="small")  # fmt: skip
    fig.suptitle(title or f"Inverse Ising, {summary.attrs['L']}x{summary.attrs['L']} Gaussian couplings")
    return fig
