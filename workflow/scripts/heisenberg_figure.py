"""Snakemake adapter: Heisenberg summary -> Fig. 4 (PNG and PDF)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import read_dataset  # noqa: E402
from difftn.plots import heisenberg_fig4, save_figure  # noqa: E402

log = to_log(snakemake)  # noqa: F821
fig = heisenberg_fig4(read_dataset(snakemake.input[0]))  # noqa: F821
log.info("wrote %s", save_figure(fig, snakemake.output.png))  # noqa: F821
