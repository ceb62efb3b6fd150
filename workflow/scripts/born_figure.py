"""Snakemake adapter: Born machine figures (PNG and PDF): NLL against D_max, or samples and inpainting."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import read_dataset  # noqa: E402
from difftn.plots import save_figure  # noqa: E402
from difftn.plots_born import born_nll, born_samples  # noqa: E402

log = to_log(snakemake)  # noqa: F821
data = [read_dataset(p) for p in snakemake.input]  # noqa: F821
fig = born_nll(data) if snakemake.rule == "born_nll_figure" else born_samples(data[0])  # noqa: F821
log.info("wrote %s", save_figure(fig, snakemake.output.png))  # noqa: F821
