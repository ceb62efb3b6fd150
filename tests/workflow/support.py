"""Shared by the workflow tests: the tiny config and a way to run the workflow."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

TINY = {
    "threads": 1,
    "ising": {
        "chi": [6],
        "steps": 12,
        "checkpoint": False,
        "symmetry": "z2",
        "decimals": 3,
        "beta": [{"start": 0.40, "stop": 0.48, "num": 3}],
        "device": "cpu",
        "dtype": "float64",
    },
    "heisenberg": {
        "D": [1, 2],
        "chi": [4, 8],
        "measure_chi": [0, 10],
        "init": "chain",
        "seed": 0,
        "noise": 0.01,
        "lbfgs": {"max_iter": 4},
        "ctmrg": {"tol": 1e-9, "max_iter": 100, "grad_mode": "fixed_point"},
        "gpu_from_D": 8,
        "gpu_model": "",
        "device": "cpu",
        "dtype": "float64",
    },
    "born": {
        "threads": 1,
        "seed": 0,
        "samples": 2000,
        "figure": {"samples": 16, "images": 2, "completions": 2, "hide": "bottom"},
        "device": "cpu",
        "dtype": "float64",
        "bas": {
            "max_bond": [2, 8],
            "rows": 3,
            "cols": 3,
            "train": {"sweeps": 6, "learning_rate": 0.2, "cutoff": 1e-7, "steps_per_bond": 1, "max_halvings": 8,
                      "init_bond": 2},
        },
        "digits": {
            "max_bond": [2],
            "threshold": 8,
            "test_fraction": 0.2,
            "split_seed": 0,
            "train": {"sweeps": 2, "learning_rate": 0.1, "cutoff": 1e-7, "steps_per_bond": 1, "max_halvings": 8,
                      "init_bond": 2},
        },
    },
    "spinglass": {
        "L": [3],
        "chi": [1, 2],
        "seeds": [0],
        "coupling_std": 1.0,
        "field_std": 0.2,
        "cutoff": 1e-12,
        "exact_max_L": 16,
        "threads": 1,
        "device": "cpu",
        "dtype": "float64",
    },
    "inverse_ising": {
        "L": 3,
        "seed": 0,
        "coupling_std": 0.5,
        "method": "mps",
        "chi": 2,
        "N": [500, 50000],
        "repeats": 2,
        "sample_seed": 0,
        "tolerance_grad": 1e-11,
        "max_iter": 200,
        "threads": 1,
        "device": "cpu",
        "dtype": "float64",
    },
    "design": {
        "sites": 3,
        "seed": 0,
        "low": 0.5,
        "high": 1.5,
        "max_iter": 100,
        "tolerance_grad": 1e-10,
        "threads": 1,
        "device": "cpu",
        "dtype": "float64",
    },
}


def snakemake(workdir, *args, config=None, env=None, timeout=600):
    """Run the repository's workflow in ``workdir``; return the CompletedProcess."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    if config is not None:
        path = Path(workdir) / "test_config.yaml"
        path.write_text(yaml.safe_dump(config))
        cmd += ["--configfile", str(path)]
    env = None if env is None else {**os.environ, **env}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env)




def job_counts(output: str) -> dict:
    """Rule name -> number of jobs, from the job-stats table of a (dry) run."""
    counts, in_table = {}, False
    for line in output.splitlines():
        words = line.split()
        if words[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(words) == 2 and words[1].isdigit():
            counts[words[0]] = int(words[1])
        elif in_table and counts and not line.strip():
            break
    counts.pop("total", None)
    return counts
