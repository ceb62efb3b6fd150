"""Figures of the positive-PEPS study: datasets in, matplotlib Figure out.

Save with ``difftn.plots.common.save_figure`` (PNG + PDF).
"""

import numpy as np

from .born import _TITLES, born_samples
from .common import plt

__all__ = ["born_parameter_count", "ppeps_nll", "ppeps_samples"]


def born_parameter_count(n_sites: int, bond: int, phys_dim: int = 2) -> int:
    """Parameters of an open MPS of n sites with bonds D_k = min(bond, d^k, d^(n-k))."""
    dims = [min(bond, phys_dim**k, phys_dim ** (n_sites - k)) for k in range(n_sites + 1)]
    return sum(dims[k] * phys_dim * dims[k + 1] for k in range(n_sites))


def ppeps_nll(summaries: list, born: list | None = None, title: str | None = None):
    """NLL per image against the number of parameters, positive PEPS beside the MPS Born machine.

    ``summaries``: outputs of ``studies.ppeps.aggregate`` (one panel each);
    ``born``: outputs of ``studies.born.aggregate`` on the same data (matched
    by the ``data`` attribute), their parameter counts from the largest bond
    reached (``born_parameter_count``).  Test NLL where the data have a test
    split, training NLL otherwise; independent-pixel baseline dashed, floor dotted.
    """
    if not summaries:
        raise ValueError("ppeps_nll: no data")
    born = {ds.attrs["data"]: ds for ds in (born or [])}
    fig, axes = plt.subplots(1, len(summaries), figsize=(5.4 * len(summaries), 4.2), constrained_layout=True,
                             squeeze=False)  # fmt: skip
    for ax, ds, tag in zip(axes[0], summaries, "abcdef"):
        name = ds.attrs.get("data", "")
        which = "test" if "test_nll" in ds else "train"
        chis = ds.chi.values if "chi" in ds.dims else [None]
        for i, chi in enumerate(chis):
            row = ds if chi is None else ds.sel(chi=chi)
            row = row.where(np.isfinite(row[f"{which}_nll"]), drop=True)  # (chi, D) pairs not trained
            label = f"positive PEPS ({which})" + ("" if len(chis) == 1 else f", $\\chi$ = {int(chi)}")
            ax.plot(row.parameter_count, row[f"{which}_nll"], "o^vsD"[i % 5] + "-", color=f"C{2 + i}", label=label)
            if i == len(chis) - 1:
                for D, p, v in zip(row.D.values, row.parameter_count.values, row[f"{which}_nll"].values):
                    ax.annotate(f"D={int(D)}", (p, v), textcoords="offset points", xytext=(4, 4), fontsize="small")
        if name in born:
            b = born[name]
            n = int(b.attrs["rows"]) * int(b.attrs["cols"])
            counts = [born_parameter_count(n, int(d)) for d in b.bond_reached.values]
            key = f"{which}_nll" if f"{which}_nll" in b else "train_nll"
            ax.plot(counts, b[key], "s-", color="C0", label=f"MPS Born machine ({which})")
        base = f"baseline_{which}_nll"
        if base in ds:
            ax.axhline(float(ds[base]), color="k", ls="--", lw=1, label="independent pixels")
        if "nll_floor" in ds:
            ax.axhline(float(ds.nll_floor), color="k", ls=":", lw=1.2, label="ln(#patterns)")
        ax.set_xscale("log")
        ax.set_xlabel("number of parameters")
        ax.set_ylabel("NLL per image (nats)")
        shape = f" {ds.attrs['rows']}x{ds.attrs['cols']}" if name == "bas" else ""
        ax.set_title(f"({tag}) {_TITLES.get(name, name)}{shape}", loc="left")
        ax.legend(fontsize="small")
    # one panel (5.4 in) is narrower than the title on one line
    sep = ":\n" if len(summaries) == 1 else ": "
    fig.suptitle(title or f"positive PEPS vs MPS Born machine{sep}NLL against parameter count")
    return fig


def ppeps_samples(ds, columns: int = 8):
    """Exact samples and inpainting of a positive PEPS (layout of ``born_samples``)."""
    name = ds.attrs.get("data", "")
    return born_samples(ds, columns=columns,
                        title=f"positive PEPS (D = {int(ds.D)}) on {_TITLES.get(name, name)}: exact samples and inpainting")


