"""Faults: SIGKILL mid-run never leaves a result that is taken for done.

- An optimization killed mid-run resumes from its last saved iteration when
  the workflow is rerun, and ends where an uninterrupted run ends.
- Kills at random moments during NetCDF writes leave either no file or a
  complete one (writes are atomic).
- A workflow killed at random moments and rerun (unlock, rerun-incomplete,
  as the README says) ends with the same results as an uninterrupted run.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from support import REPO, TINY, snakemake

from difftn.infra.io import ResultFileError, read_dataset

STATE = "results/heisenberg/D2_chi8/state.nc"
PROGRESS = "results/heisenberg/D2_chi8/progress.nc"


def optimize_config():
    """TINY's Heisenberg part, one D from random, enough iterations to be killed mid-run."""
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["heisenberg"].update(D=[2], chi=[8], measure_chi=[0], init="random")
    config["heisenberg"]["lbfgs"] = {"max_iter": 40, "tolerance_grad": 1e-12}
    config["heisenberg"]["save_every"] = 0  # a write per iteration: a SIGKILL then finds one to resume from
    return config


def start_snakemake(workdir, *args):
    """Snakemake in its own process group, so that a kill reaches its jobs too."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill_group(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def recover(workdir, *args):
    """What the README prescribes after a kill: unlock, then rerun (incomplete jobs redone)."""
    assert snakemake(workdir, "--unlock", *args).returncode == 0
    run = snakemake(workdir, "--cores", "2", "--rerun-incomplete", *args)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def saved_iteration(path):
    try:
        return int(read_dataset(path).attrs["iteration"])
    except (FileNotFoundError, ResultFileError):
        return 0


@pytest.mark.slow
def test_killed_optimization_resumes_and_matches_an_uninterrupted_run(tmp_path):
    config = optimize_config()
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = [STATE, "--configfile", str(tmp_path / "config.yaml")]  # target first: --configfile takes a list

    clean = tmp_path / "clean"
    run = snakemake(clean, "--cores", "2", *args)
    assert run.returncode == 0, run.stderr[-3000:]
    expected = read_dataset(clean / STATE)
    final = int(expected.attrs["iteration"])  # L-BFGS may stop before max_iter ("no change")
    assert final > 10

    killed = tmp_path / "killed"
    proc = start_snakemake(killed, "--cores", "2", *args)
    deadline = time.monotonic() + 300
    while saved_iteration(killed / PROGRESS) < 5:
        assert proc.poll() is None and time.monotonic() < deadline, "run ended before it could be killed"
        time.sleep(0.05)
    kill_group(proc)
    at_kill = saved_iteration(killed / PROGRESS)
    assert 5 <= at_kill < final and not (killed / STATE).exists()

    recover(killed, *args)
    log = (killed / "results/logs/heisenberg/D2_chi8/optimize.log").read_text()
    assert f"at iteration {at_kill}" in log, log  # resumed, not restarted
    resumed = read_dataset(killed / STATE)
    assert int(resumed.attrs["iteration"]) == final
    np.testing.assert_allclose(resumed.energy.values, expected.energy.values, rtol=0, atol=1e-8)
    np.testing.assert_allclose(resumed.A.values, expected.A.values, rtol=0, atol=1e-8)


WRITER = """
import sys
import numpy as np, xarray as xr
from difftn.infra.io import write_dataset
i = 0
while True:
    i += 1
    write_dataset(xr.Dataset({"x": ("n", np.full(200_000, float(i)))}, attrs={"i": i}), sys.argv[1])
"""


def test_kills_during_writes_leave_no_partial_file(tmp_path):
    target = tmp_path / "result.nc"
    rng = np.random.default_rng(7)
    complete = 0
    for delay in rng.uniform(0.3, 2.0, size=8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], start_new_session=True)
        time.sleep(delay)
        kill_group(proc)
        if target.exists():  # a file under the final name is always a whole result
            ds = read_dataset(target)
            assert np.all(ds.x.values == ds.attrs["i"]) and ds.sizes["n"] == 200_000
            complete += 1
    assert complete > 0  # the kills did hit running writers that had written before


@pytest.mark.slow
def test_workflow_killed_at_random_moments_ends_as_an_uninterrupted_run(tiny_run, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    targets = ["results/ising/chi6_steps12/summary.nc", "results/heisenberg/summary.nc"]
    args = [*targets, "--configfile", str(config)]  # targets first: --configfile takes a list
    workdir = tmp_path / "run"
    rng = np.random.default_rng(11)
    for delay in rng.uniform(4.0, 12.0, size=3):
        if (workdir / ".snakemake").exists():
            assert snakemake(workdir, "--unlock", *args).returncode == 0
        proc = start_snakemake(workdir, "--cores", "2", "--rerun-incomplete", *args)
        time.sleep(delay)
        kill_group(proc)
    recover(workdir, *args)
    for path, names in zip(targets, [("lnz", "energy", "specific_heat"), ("energy", "magnetization")]):
        got, want = read_dataset(workdir / path), read_dataset(tiny_run / path)
        for name in names:
            np.testing.assert_allclose(got[name].values, want[name].values, rtol=0, atol=1e-8)
