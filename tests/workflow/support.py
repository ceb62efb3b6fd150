"""Shared by the workflow tests: the tiny config and a way to run the workflow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

# The tiny study (every rule at toy sizes) is a config file that `snakemake
# --configfile` runs by hand too; tests that need a variant copy and change it.
TINY_CONFIG = REPO / ".test/config/config.yaml"
TINY = yaml.safe_load(TINY_CONFIG.read_text())


def snakemake(workdir, *args, config=None, env=None, timeout=600, targets=()):
    """Run the repository's workflow in ``workdir``; return the CompletedProcess.

    ``targets`` go right after ``-d`` (options such as --configfile and
    --set-threads take every word after them).
    """
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *map(str, targets)]
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


def api_script_json(script: str, config) -> object:
    """Run SCRIPT (Python that loads the workflow through workflow_api.py) in a process of
    its own with CONFIG as its argument; the last line it prints, read as JSON."""
    run = subprocess.run([sys.executable, "-c", script, str(config)], cwd=REPO / "tests/workflow",
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])
