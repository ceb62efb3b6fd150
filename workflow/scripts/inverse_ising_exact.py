"""Snakemake adapter: inverse Ising from the exact moments (+ Fisher information) -> NetCDF."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import inverse_ising  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
p = snakemake.params  # noqa: F821
ds = inverse_ising.compute_exact_point(
    p.L,
    p.seed,
    coupling_std=p.coupling_std,
    method=p.method,
    chi=p.chi,
    tolerance_grad=p.tolerance_grad,
    max_iter=p.max_iter,
    device=p.device,
    dtype=p.dtype,
    config_hash=p.config_hash,
)
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("exact moments: max coupling error %.3e", float(ds.max_error))
