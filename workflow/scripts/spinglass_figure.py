"""Snakemake adapter: spin-glass / inverse-Ising figures (PNG and PDF), chosen by params.name."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn import plots_spinglass  # noqa: E402
from difftn.io import read_dataset  # noqa: E402
from difftn.plots import save_figure  # noqa: E402

log = to_log(snakemake)  # noqa: F821
datasets = [read_dataset(p) for p in snakemake.input]  # noqa: F821
name = snakemake.params.name  # noqa: F821
if name == "spinglass-correlations":
    fig = plots_spinglass.spinglass_correlations(datasets)
elif name == "spinglass-convergence":
    fig = plots_spinglass.spinglass_convergence(datasets[0])
else:
    fig = plots_spinglass.inverse_ising_recovery(datasets[0])
log.info("wrote %s", save_figure(fig, snakemake.output.png))  # noqa: F821
