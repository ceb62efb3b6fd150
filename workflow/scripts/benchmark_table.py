"""Snakemake adapter: the benchmark records of all compute jobs -> one CSV for the report."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

log = to_log(snakemake)  # noqa: F821
rows = []
for path in map(Path, snakemake.input):  # noqa: F821
    record = pd.read_csv(path, sep="\t")
    # results/benchmarks/<study>/<run>/<job>.tsv names the job
    parts = path.relative_to("results/benchmarks").with_suffix("").parts
    record.insert(0, "job", "/".join(parts[1:]))
    record.insert(0, "study", parts[0])
    rows.append(record)
table = pd.concat(rows, ignore_index=True)
table.to_csv(snakemake.output[0], index=False, float_format="%.6g")  # noqa: F821
log.info("%d benchmark records, %.1f s of wall time in all", len(table), table["s"].sum())
