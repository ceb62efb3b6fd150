"""Fixtures of the workflow tests: one tiny local run shared by several tests."""

import shutil

import pytest
from support import TINY, snakemake


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A workflow directory holding a finished local run of TINY (read it, don't change it).

    Under pytest-xdist all of tests/workflow runs on one worker (tests/conftest.py),
    so this runs once.
    """
    workdir = tmp_path_factory.mktemp("tiny_run")
    run = snakemake(workdir, "--cores", "2", config=TINY)
    assert run.returncode == 0, run.stderr
    return workdir


@pytest.fixture
def tiny_copy(tiny_run, tmp_path):
    """A private copy of the finished tiny run, for tests that change it."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    return workdir
