"""Snakemake adapter: exact reference of one spin-glass instance (transfer matrix) -> NetCDF."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import spinglass  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
ds = spinglass.compute_exact(
    int(w.L),
    int(w.seed),
    coupling_std=p.coupling_std,
    field_std=p.field_std,
    device=p.device,
    dtype=p.dtype,
    config_hash=p.config_hash,
)
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("L=%s seed=%s: exact lnZ=%.12f", w.L, w.seed, float(ds.lnz))
