"""Conventions .ci/run enforces: lint-clean, snakefmt-formatted, one set of pins."""

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from support import REPO

SNAKEFILES = [REPO / "Snakefile", *sorted((REPO / "workflow/rules").glob("*.smk"))]


def test_snakemake_lint_is_clean():
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", str(REPO / "config.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0 and "Lints for" not in run.stdout + run.stderr, run.stdout + run.stderr


def test_snakefiles_are_snakefmt_formatted():
    snakefmt = Path(sys.executable).with_name("snakefmt")
    run = subprocess.run([str(snakefmt), "--check", *map(str, SNAKEFILES)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_conda_environment_has_the_pyproject_pins():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = project["dependencies"] + [p for group in project["optional-dependencies"].values() for p in group]
    assert all("==" in pin for pin in pins), "every dependency is pinned exactly"
    env = yaml.safe_load((REPO / "envs/difftn.yaml").read_text())
    pip = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    conda_pins = [item for item in pip if not item.startswith("-")]
    assert sorted(conda_pins) == sorted(pins)
    python = next(item for item in env["dependencies"] if isinstance(item, str) and item.startswith("python="))
    assert python == "python=" + project["requires-python"].removeprefix(">=")
