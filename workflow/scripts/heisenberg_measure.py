"""Snakemake adapter: energy and magnetization of one optimized state at one chi."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import heisenberg  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
p = snakemake.params  # noqa: F821
ds = heisenberg.measure(snakemake.input.state, int(snakemake.wildcards.mchi), ctm=dict(p.ctmrg),  # noqa: F821
                        device=p.device, dtype=p.dtype, config_hash=p.config_hash)  # fmt: skip
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("D=%d chi=%d: E=%.10f m=%.6f", int(ds.D), int(ds.chi), float(ds.energy), float(ds.magnetization))
