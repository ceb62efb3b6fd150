"""Snakemake adapter: train one Born machine (data set x maximal bond dimension) -> model NetCDF."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import born  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
ds = born.train_point(
    w.data,
    int(w.D),
    dict(p.settings),
    dict(p.train),
    seed=p.seed,
    n_samples=p.samples,
    device=p.device,
    dtype=p.dtype,
    config_hash=p.config_hash,
)
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("%s Dmax=%s: training NLL %.6f, largest bond %d", w.data, w.D, float(ds.train_nll), int(ds.bond_dimension.max()))
