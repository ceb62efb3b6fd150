"""Snakemake adapter: spin-glass point and exact files -> table over (L, seed, chi), NetCDF and CSV."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_table  # noqa: E402
from difftn.studies import spinglass  # noqa: E402

log = to_log(snakemake)  # noqa: F821
ds = spinglass.aggregate(snakemake.input)  # noqa: F821
write_table(ds, snakemake.output.nc, snakemake.output.csv)  # noqa: F821
log.info("aggregated L=%s, seeds=%s, chi=%s", list(ds.L.values), list(ds.seed.values), list(ds.chi.values))
