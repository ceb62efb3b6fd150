"""Shared test setup: deterministic, single-threaded torch.

One intra-op thread: the test matrices are tiny (<= 256 x 256), so threading
buys nothing, while on a shared 2-core runner two OpenMP threads competing
with other processes made a 64 x 64 SVD ~40x slower (measured 35 ms vs 0.9 ms).
"""

import os

import pytest
import torch


# Test processes when pytest-xdist is installed and none is asked for: CI has 2 cores.
WORKERS = 2
# The SLURM workflow test runs its own reference and waits on slurmctld most of its time.
SLURM_TEST = "tests/workflow/test_slurm.py"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    # Run on WORKERS processes by default (-n 0 or -p no:xdist: one process).  Not
    # in addopts, which would break -p no:xdist.  --pdb (which xdist refuses) and
    # xdist's workers stay as they are.
    if (not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput")
            or config.option.numprocesses is not None or config.option.usepdb):  # fmt: skip
        return
    config.option.numprocesses = WORKERS
    if config.option.dist == "no":
        config.option.dist = "load"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    # --dist load (the default above): tests/workflow/ goes to one worker as a
    # whole, since its session fixture tiny_run (the tiny study, minutes) would
    # run once per worker and its tests run Snakemake in that one directory;
    # the SLURM test (its own reference run, no tiny_run) and the library
    # tests spread over the workers one by one.  (xdist_group
    # markers cannot do this: xdist 3.8.0 renames a grouped test through
    # Item._nodeid, which pytest 9.2 no longer reads.)
    if config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class WorkflowTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            if nodeid.startswith(SLURM_TEST):  # mostly waiting on SLURM: beside the rest, not after it
                return nodeid
            return "tests/workflow" if nodeid.startswith("tests/workflow/") else nodeid

    return WorkflowTogether(config, log)


def pytest_configure(config):
    # In every test process, xdist workers included.
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(20190731)


def pytest_collection_modifyitems(config, items):
    # The long tests first: xdist hands out work in collection order (after the
    # largest scope, tests/workflow), so the SLURM test starts on the second
    # worker at once instead of last.
    items.sort(key=lambda item: 0 if item.nodeid.startswith(SLURM_TEST) else 1)
    # GPU tests run where CUDA is; elsewhere they are skipped with a reason
    # that the -ra summary prints (and CI=true accepts only this skip).
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="gpu: CUDA not available on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Under CI=true a skipped test is a test that did not run: fail it, naming
    # the reason.  The one exception is the gpu marker (CI has no GPU).
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and not hasattr(report, "wasxfail") and os.environ.get("CI") == "true"
            and "gpu" not in item.keywords):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (every test but gpu ones must run there): {reason}"
