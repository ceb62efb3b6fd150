"""Fixtures of the workflow tests: one tiny local run shared by several tests."""

import shutil

import pytest
from support import TINY, snakemake


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    # A session fixture runs once per xdist worker: every test that needs the
    # tiny run (it takes minutes) goes to one worker, which makes it once.
    for item in items:
        if "tiny_run" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("tiny_run"))


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A workflow directory holding a finished local run of TINY (read it, don't change it)."""
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
