"""Snakemake adapter: inverse-Ising files -> recovery error against N, NetCDF and CSV."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_table  # noqa: E402
from difftn.studies import inverse_ising  # noqa: E402

log = to_log(snakemake)  # noqa: F821
ds = inverse_ising.aggregate(snakemake.input)  # noqa: F821
write_table(ds, snakemake.output.nc, snakemake.output.csv)  # noqa: F821
log.info("recovery error against N: slope %.3f", ds.attrs["slope"])
