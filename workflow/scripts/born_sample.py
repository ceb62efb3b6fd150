"""Snakemake adapter: samples and inpainting from one trained Born machine -> NetCDF."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.io import write_dataset  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import born  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
p = snakemake.params  # noqa: F821
f = p.figure
ds = born.sample_point(
    snakemake.input[0],  # noqa: F821
    n_samples=f["samples"],
    n_images=f["images"],
    completions=f["completions"],
    hide=f["hide"],
    seed=p.seed,
    device=p.device,
    config_hash=p.config_hash,
)
write_dataset(ds, snakemake.output[0])  # noqa: F821
log.info("%d samples, %d images inpainted", ds.sizes["sample"], ds.sizes["image"])
