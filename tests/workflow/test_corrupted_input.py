"""A corrupted result, or one written by another format version, is recomputed, never used."""

import h5py
import numpy as np
from support import TINY, snakemake

from difftn.infra.io import read_dataset

RUN = "results/ising/chi6_steps12"


def test_corrupted_and_foreign_results_are_set_aside_and_recomputed(tiny_copy):
    truncated, foreign = tiny_copy / f"{RUN}/beta_0.400.nc", tiny_copy / f"{RUN}/beta_0.480.nc"
    before = {path: read_dataset(path) for path in (truncated, foreign)}
    truncated.write_bytes(truncated.read_bytes()[:500])  # a torn copy, say
    with h5py.File(foreign, "r+") as handle:  # as if written by a future difftn
        handle.attrs["difftn_format_version"] = 99
    (tiny_copy / f"{RUN}/summary.nc").unlink()  # the aggregate must run: it reads all points

    dry = snakemake(tiny_copy, "-n", config=TINY)
    assert dry.returncode == 0 and "a real run moves it aside" in dry.stdout + dry.stderr
    assert truncated.exists()  # a dry run changes nothing

    run = snakemake(tiny_copy, "--cores", "2", config=TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "not a readable NetCDF file" in log and "format version 99" in log
    for path, old in before.items():
        assert path.with_name(path.name + ".unreadable").exists()
        new = read_dataset(path)
        for name in ("lnz", "energy", "specific_heat"):
            np.testing.assert_allclose(float(new[name]), float(old[name]), rtol=1e-12)
    assert log.count("rule ising_point:") == 2  # only the two bad points were recomputed
    summary = read_dataset(tiny_copy / f"{RUN}/summary.nc")
    assert list(summary.beta.values) == [0.40, 0.44, 0.48]
