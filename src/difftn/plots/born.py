"""Figures of the MPS Born machine study: datasets in, matplotlib Figure out.

Saved with ``difftn.plots.common.save_figure`` (PNG + PDF).
"""

import numpy as np

from .common import plt

__all__ = ["born_nll", "born_samples", "mosaic"]

_TITLES = {"bas": "bars and stripes", "digits": "8x8 digits (binarized)"}


def born_nll(summaries: list, title: str | None = None):
    """NLL per image against the maximal bond dimension, one panel per data set.

    Parameters
    ----------
    summaries : list of xarray.Dataset
        Outputs of ``difftn.studies.born.aggregate`` (dimension ``max_bond``).

    Returns
    -------
    matplotlib.figure.Figure
        Training (and test) NLL of the Born machine over D_max (log2 axis),
        with the independent-pixel baseline (dashed) and, for bars and
        stripes, the floor ln(#patterns) (dotted).
    """
    if not summaries:
        raise ValueError("born_nll: no data")
    fig, axes = plt.subplots(1, len(summaries), figsize=(5.2 * len(summaries), 4.2), constrained_layout=True,
                             squeeze=False)  # fmt: skip
    for ax, ds, tag in zip(axes[0], summaries, "abcdef"):
        D = ds.max_bond.values
        ax.plot(D, ds.train_nll, "o-", color="C0", label="Born machine, training")
        if "test_nll" in ds:
            ax.plot(D, ds.test_nll, "s-", color="C3", label="Born machine, test")
        ax.axhline(float(ds.baseline_train_nll), color="C0", ls="--", lw=1, label="independent pixels, training")
        if "baseline_test_nll" in ds:
            ax.axhline(float(ds.baseline_test_nll), color="C3", ls="--", lw=1, label="independent pixels, test")
        if "nll_floor" in ds:
            n = int(ds.pattern_count) if "pattern_count" in ds else None
            label = f"ln {n} (uniform over the patterns)" if n else "floor"
            ax.axhline(float(ds.nll_floor), color="k", ls=":", lw=1.2, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(D, [str(int(d)) for d in D])
        ax.set_xlabel(r"maximal bond dimension $D_{\max}$")
        ax.set_ylabel("NLL per image (nats)")
        name = ds.attrs.get("data", "")
        shape = f" {ds.attrs['rows']}x{ds.attrs['cols']}" if name == "bas" else ""
        ax.set_title(f"({tag}) {_TITLES.get(name, name)}{shape}", loc="left")
        ax.legend(fontsize="small")
    fig.suptitle(title or "MPS Born machine: negative log-likelihood against bond dimension")
    return fig


def mosaic(images, columns: int, pad: int = 1, fill: float = 0.5) -> np.ndarray:
    """Tile images (N, rows, cols) into one array, ``columns`` per row, separated by ``pad`` pixels of ``fill``."""
    images = np.asarray(images, dtype=float)
    n, r, c = images.shape
    grid_rows = max(1, -(-n // columns))
    out = np.full((grid_rows * (r + pad) - pad, columns * (c + pad) - pad), fill)
    for i, im in enumerate(images):
        y, x = divmod(i, columns)
        out[y * (r + pad) : y * (r + pad) + r, x * (c + pad) : x * (c + pad) + c] = im
    return out


def born_samples(ds, columns: int = 8, title: str | None = None):
    """Exact samples and inpainting of a trained Born machine.

    Parameters
    ----------
    ds : xarray.Dataset
        Output of ``difftn.studies.born.sample_point``.
    columns : int
        Samples per row of the sample grid.

    Returns
    -------
    matplotlib.figure.Figure
        (a) independent zipper samples; (b) inpainting: per row the original
        image, the given half (hidden half gray), and completions drawn from
        p(hidden | given).  For bars and stripes, invalid samples are framed red.
    """
    samples = ds.samples.values
    k, m = ds.sizes["image"], ds.sizes["completion"]
    fig = plt.figure(figsize=(11, 5.2), constrained_layout=True)
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.05])
    ax = left.subplots()
    ax.imshow(mosaic(samples, columns), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    r, c = ds.sizes["row"], ds.sizes["col"]
    if "sample_valid" in ds:
        for i, ok in enumerate(ds.sample_valid.values):
            if not ok:
                y, x = divmod(i, columns)
                ax.add_patch(plt.Rectangle((x * (c + 1) - 0.5, y * (r + 1) - 0.5), c, r, fill=False, ec="red", lw=1.2))
        share = float(ds.sample_valid.mean())
        ax.set_xlabel(f"{share:.1%} of these {len(samples)} samples are valid patterns")
    ax.set_xticks([])
    ax.set_yticks([])
    # a Born machine file names its bond D_max (max_bond), a positive PEPS its bond D
    bond = f"$D_{{\\max}}$ = {int(ds.max_bond)}" if "max_bond" in ds else f"D = {int(ds.D)}"
    ax.set_title(f"(a) {len(samples)} independent samples, {bond}", loc="left")
    axes = right.subplots(max(k, 1), m + 2, squeeze=False)
    hidden = ds.inpaint_hidden.values.astype(bool)
    for i in range(k):
        original = ds.inpaint_original.values[i].astype(float)
        given = np.where(hidden, 0.5, original)
        row = [original, given] + [ds.inpaint_completion.values[i, j] for j in range(m)]
        for j, im in enumerate(row):
            axes[i, j].imshow(im, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
            if "inpaint_valid" in ds and j >= 2 and not ds.inpaint_valid.values[i, j - 2]:
                for spine in axes[i, j].spines.values():
                    spine.set_color("red")
                    spine.set_linewidth(1.5)
        if i == 0:
            axes[0, 0].set_title("original", fontsize="small")
            axes[0, 1].set_title("given", fontsize="small")
            for j in range(m):
                axes[0, j + 2].set_title(f"sample {j + 1}", fontsize="small")
    right.suptitle(f"(b) inpainting: the {ds.attrs['hide']} half drawn from p(hidden | given)", x=0.02, ha="left")
    name = ds.attrs.get("data", "")
    fig.suptitle(title or f"MPS Born machine on {_TITLES.get(name, name)}: exact samples and inpainting")
    return fig
