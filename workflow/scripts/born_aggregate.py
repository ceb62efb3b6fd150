"""Snakemake adapter: Born machine model files of one data set -> one table over D_max (NetCDF and CSV)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_table  # noqa: E402
from difftn.studies import born  # noqa: E402

log = to_log(snakemake)  # noqa: F821
ds = born.aggregate(snakemake.input)  # noqa: F821
write_table(ds, snakemake.output.nc, snakemake.output.csv)  # noqa: F821
log.info("aggregated D_max = %s", list(ds.max_bond.values))
