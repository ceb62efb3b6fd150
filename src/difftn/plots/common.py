"""What every figure module shares: the file-only backend and ``save_figure``."""

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters or CI
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "save_figure"]


def save_figure(fig, png_path) -> list:
    """Save ``fig`` as PNG (150 dpi) and as a PDF beside it; return both paths."""
    from pathlib import Path

    png = Path(png_path)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=150)
    fig.savefig(png.with_suffix(".pdf"))
    plt.close(fig)
    return [png, png.with_suffix(".pdf")]
