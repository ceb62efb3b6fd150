"""Snakemake adapter: one Ising point (TRG + AD) -> NetCDF."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import ising  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
ds = ising.compute_point(
    float(w.beta),
    int(w.chi),
    int(w.steps),
    checkpoint=p.checkpoint,
    symmetry=p.symmetry,
    device=p.device,
    dtype=p.dtype,
    config_hash=p.config_hash,
)
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("beta=%s: %s", w.beta, {k: float(ds[k]) for k in ("lnz", "energy", "specific_heat")})
