"""Snakemake adapter: Ising points of one (chi, steps) -> one NetCDF over beta and a CSV."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_table  # noqa: E402
from difftn.studies import ising  # noqa: E402

log = to_log(snakemake)  # noqa: F821
ds = ising.aggregate(snakemake.input)  # noqa: F821
write_table(ds, snakemake.output.nc, snakemake.output.csv)  # noqa: F821
log.info("aggregated %d points", ds.sizes["beta"])
