"""Snakemake adapter: optimize one D; progress saved every iteration, resumed after a kill."""

import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _log import to_log  # noqa: E402

from difftn.provenance import file_sha256  # noqa: E402
from difftn.runtime import set_threads  # noqa: E402
from difftn.studies import heisenberg  # noqa: E402

log = to_log(snakemake)  # noqa: F821
set_threads(snakemake.threads)  # noqa: F821
w, p = snakemake.wildcards, snakemake.params  # noqa: F821
D, chi = int(w.D), int(w.chi)
init = snakemake.input.get("init")  # noqa: F821
progress = Path(p.progress)

# Resume only a run of the same code, start and physics settings (more iterations are fine).
if progress.exists():
    try:
        old = heisenberg.load_state(progress)
        old_ctm = {k: v for k, v in json.loads(old.attrs["ctmrg_options"]).items() if k in p.ctmrg}
        same = {
            "D, chi, seed": (old.attrs["D"], old.attrs["chi"], old.attrs["seed"]) == (D, chi, p.seed),
            "ctmrg options": old_ctm == dict(p.ctmrg),
            "library source": old.attrs["source_hash"] == p.source_hash,
            "initial state": old.attrs.get("init_sha256", "none") == (file_sha256(init) if init else "none"),
        }
    except Exception as err:  # unreadable or foreign: start over
        log.warning("ignoring %s: %s", progress, err)
        same = {"readable": False}
    if not all(same.values()):
        log.info("%s changed: starting %s afresh", [k for k, v in same.items() if not v], progress)
        progress.unlink()

heisenberg.optimize(
    D, chi, progress, init=init, resume=True, seed=p.seed, noise=p.noise, ctm=dict(p.ctmrg),
    lbfgs=dict(p.lbfgs), device=p.device, dtype=p.dtype, config_hash=p.config_hash, progress=False,
)  # fmt: skip
tmp = Path(snakemake.output[0]).with_suffix(".copy.tmp")  # noqa: F821
shutil.copyfile(progress, tmp)
os.replace(tmp, snakemake.output[0])  # noqa: F821
