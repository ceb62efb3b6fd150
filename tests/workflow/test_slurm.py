"""The SLURM profile on a real single-node SLURM: same results as a local run.

Sets up slurm-wlm and munge on localhost (apt-get when absent, as in CI) and
runs the Ising and Heisenberg parts of the tiny study through
workflow/profiles/slurm: the rules with GPU and per-rule resource settings, every
job a SLURM job.  (The whole tiny study through SLURM took ~10 of the suite's 21
minutes on 2 cores; the other rules use the same profile mechanism.)  Without root or apt it
skips, except under CI (CI=true), where it must run.
"""

import os
import subprocess
from collections import Counter

import numpy as np
import pytest
import yaml
from local_slurm import SlurmUnavailable, local_slurm
from support import REPO, TINY, job_counts, snakemake

from difftn.infra.io import read_dataset

# What a test cluster needs beyond the profile: no account (no accounting
# database), status from squeue (no sacct), quick first status check, and
# thread counts the 2-CPU test node can hold.
SLURM_TEST_ARGS = [
    "--profile", str(REPO / "workflow/profiles/slurm"),
    "--slurm-no-account",
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--set-threads", "ising_point=1", "heisenberg_optimize=1", "heisenberg_measure=1",
]  # fmt: skip

RESULTS = [
    ("results/ising/chi6_steps12/summary.nc", ("lnz", "energy", "specific_heat")),
    ("results/heisenberg/summary.nc", ("energy", "magnetization")),
]


@pytest.mark.slow
def test_tiny_study_through_the_slurm_profile_equals_a_local_run(tmp_path):
    config = yaml.safe_load(yaml.safe_dump(TINY))
    config["heisenberg"]["gpu_from_D"] = 2  # the D = 2 jobs ask SLURM for the (fake) GPU
    workdir, local_dir = tmp_path / "run", tmp_path / "local"
    workdir.mkdir()
    local_dir.mkdir()
    # Its own local reference of the same targets (not the session's tiny_run), so
    # that this test can run on another xdist worker beside the other workflow tests.
    local = snakemake(local_dir, "--cores", "1", config=config, targets=[path for path, _ in RESULTS])
    assert local.returncode == 0, local.stderr[-3000:]
    try:
        with local_slurm(tmp_path / "slurm"):
            run = snakemake(workdir, *SLURM_TEST_ARGS, config=config, timeout=900,
                            targets=[path for path, _ in RESULTS])  # fmt: skip
            # Finished jobs stay known to slurmctld (MinJobAge): one line per job.
            jobs = subprocess.run(
                ["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True
            ).stdout.splitlines()
    except SlurmUnavailable as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the SLURM test: {err}")
        pytest.skip(str(err))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # Every job but `all` ran as a SLURM job; exactly the D = 2 jobs (optimize and
    # measure at chi = 8, 10) had the GPU.
    log = run.stdout + run.stderr
    expected = job_counts(log)
    expected.pop("all", None)  # no `all` job: the run asks for two targets
    fields = [dict(w.split("=", 1) for w in line.split() if "=" in w) for line in jobs]
    assert all(job["JobState"] == "COMPLETED" for job in fields), jobs
    submitted = Counter(job["Comment"].removeprefix("rule_").split("_wildcards")[0] for job in fields)
    assert submitted == expected, (submitted, expected)
    with_gpu = sorted(job["Comment"] for job in fields if "gpu" in job.get("TresPerJob", ""))
    assert with_gpu == [
        "rule_heisenberg_measure_wildcards_2_8_10",
        "rule_heisenberg_measure_wildcards_2_8_8",
        "rule_heisenberg_optimize_wildcards_2_8",
    ]

    for path, variables in RESULTS:
        local, remote = read_dataset(local_dir / path), read_dataset(workdir / path)
        for name in variables:
            np.testing.assert_allclose(remote[name].values, local[name].values, rtol=1e-10, atol=1e-12)
