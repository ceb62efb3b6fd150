"""Snakemake adapter: TFIM chain fitted to a target ground state through eigh -> NetCDF."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import design  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
ds = design.compute(
    int(w.sites),
    int(w.seed),
    low=p.low,
    high=p.high,
    max_iter=p.max_iter,
    tolerance_grad=p.tolerance_grad,
    device=p.device,
    dtype=p.dtype,
    config_hash=p.config_hash,
)
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("fidelity %.12f (start %.6f)", float(ds.fidelity), float(ds.initial_fidelity))
