"""Per-module reruns: a change to one library module reruns exactly the rules that use it.

Each rule holds the source hash of the modules it uses as a parameter, so
Snakemake's params trigger reruns it when one of them changes.  These tests
edit one module in a copy of the package, put that copy first on PYTHONPATH
and ask Snakemake (dry run, on a finished tiny run) what it would redo.
"""

import shutil

import pytest
from support import REPO, TINY, job_counts, snakemake

TABLE = {"benchmark_table": 1}  # the report's table of benchmark records follows every compute job
ISING = {"ising_point": 3, "ising_aggregate": 1, "ising_figure": 1} | TABLE
HEISENBERG = {"heisenberg_optimize": 2, "heisenberg_measure": 3, "heisenberg_aggregate": 1,
              "heisenberg_figure": 1} | TABLE  # fmt: skip
HEISENBERG_MEASURE = {"heisenberg_measure": 3, "heisenberg_aggregate": 1, "heisenberg_figure": 1} | TABLE
BORN_FIGURES = {"born_nll_figure": 1, "born_samples_figure": 2}
BORN = {"born_train": 3, "born_sample": 2, "born_aggregate": 2} | BORN_FIGURES | TABLE
SPINGLASS_FIGURES = {"spinglass_convergence_figure": 1, "spinglass_correlations_figure": 1}
SPINGLASS = {"spinglass_point": 2, "spinglass_aggregate": 1} | SPINGLASS_FIGURES | TABLE
INVERSE = {"inverse_ising_exact": 1, "inverse_ising_samples": 2, "inverse_ising_aggregate": 1,
           "inverse_ising_figure": 1} | TABLE  # fmt: skip
DESIGN = {"design": 1} | TABLE
FIGURES = {"ising_figure": 1, "heisenberg_figure": 1, "inverse_ising_figure": 1} | BORN_FIGURES | SPINGLASS_FIGURES

# module file (relative to src/) -> jobs a change to it reruns, for the TINY config
RERUNS = {
    "difftn/contract/trg.py": ISING,
    "difftn/models/ising.py": ISING,
    "difftn/methods/thermodynamics.py": ISING,
    "difftn/studies/ising.py": ISING,
    "difftn/linalg/svd.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/linalg/eigh.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/contract/ctmrg.py": HEISENBERG,
    "difftn/contract/fixedpoint.py": HEISENBERG,
    "difftn/methods/ipeps.py": HEISENBERG,
    "difftn/models/heisenberg.py": HEISENBERG,
    "difftn/methods/optimize.py": HEISENBERG | INVERSE | DESIGN,
    "difftn/data/reference.py": HEISENBERG_MEASURE,
    "difftn/methods/born/mps.py": BORN,
    "difftn/data/datasets.py": BORN,
    "difftn/contract/boundary_mps.py": SPINGLASS | INVERSE,
    "difftn/models/spinglass.py": SPINGLASS | {"spinglass_exact": 1} | INVERSE,
    "difftn/methods/inverse_ising.py": INVERSE,
    "difftn/methods/fidelity_design.py": DESIGN,
    "difftn/plots/__init__.py": {},
    "difftn/plots/common.py": FIGURES,
    "difftn/plots/ising.py": {"ising_figure": 1},
    "difftn/plots/heisenberg.py": {"heisenberg_figure": 1},
    "difftn/plots/inverse_ising.py": {"inverse_ising_figure": 1},
    "difftn/plots/born.py": BORN_FIGURES,
    "difftn/plots/spinglass.py": SPINGLASS_FIGURES | {"inverse_ising_figure": 1},
    "difftn/cli.py": {},
    "difftn/__main__.py": {},
    "difftn/infra/runtime.py": {},
    "difftn/__init__.py": {},
    "difftn/linalg/__init__.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/linalg/qr.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/linalg/broadening.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/linalg/truncation.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN | BORN,
    "difftn/linalg/krylov.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/linalg/polar.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/linalg/partial_eigh.py": ISING | HEISENBERG | SPINGLASS | INVERSE | DESIGN,
    "difftn/models/__init__.py": {},
    "difftn/models/tfim.py": DESIGN,
    "difftn/methods/spinglass_solver.py": SPINGLASS | INVERSE,
    "difftn/contract/__init__.py": {},
    "difftn/methods/__init__.py": {},
    "difftn/infra/__init__.py": {},
    "difftn/data/__init__.py": {},
    "difftn/methods/born/__init__.py": BORN,
    "difftn/methods/born/train.py": BORN,
    "difftn/methods/born/sample.py": BORN,
    "difftn/methods/born/baseline.py": BORN,
    "difftn/studies/__init__.py": {},
    "difftn/studies/heisenberg.py": HEISENBERG,
    "difftn/studies/born.py": BORN,
    "difftn/studies/spinglass.py": SPINGLASS | {"spinglass_exact": 1},
    "difftn/studies/inverse_ising.py": INVERSE,
    "difftn/studies/design.py": DESIGN,
    # io.py's FORMAT_VERSION has its own test below; an edit that keeps it reruns nothing.
    "difftn/infra/io.py": {},
    "difftn/infra/provenance.py": {},
    "difftn/infra/options.py": {},
    # The positive PEPS has no pipeline rules yet: its modules rerun nothing.
    "difftn/methods/ppeps/__init__.py": {},
    "difftn/methods/ppeps/model.py": {},
    "difftn/methods/ppeps/train.py": {},
    "difftn/methods/ppeps/sample.py": {},
    "difftn/studies/ppeps.py": {},
    "difftn/plots/ppeps.py": {},
}


def test_the_table_covers_every_library_module():
    modules = {str(p.relative_to(REPO / "src")) for p in (REPO / "src/difftn").rglob("*.py")}
    assert modules == set(RERUNS), (sorted(modules - set(RERUNS)), sorted(set(RERUNS) - modules))


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A copy of src/ that the tests may edit."""
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "src/difftn", root / "difftn", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def planned_jobs(workdir, package_root):
    run = snakemake(workdir, "-n", config=TINY, env={"PYTHONPATH": str(package_root)})
    assert run.returncode == 0, run.stderr
    if "Nothing to be done" in run.stdout + run.stderr:
        return {}
    counts = job_counts(run.stdout)
    counts.pop("all")
    return counts


def test_unchanged_package_reruns_nothing(tiny_run, package_copy):
    assert planned_jobs(tiny_run, package_copy) == {}


@pytest.mark.parametrize("module", sorted(RERUNS))
def test_a_module_change_reruns_only_its_rules(tiny_run, package_copy, module):
    path = package_copy / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        assert planned_jobs(tiny_run, package_copy) == RERUNS[module]
    finally:
        path.write_text(original)


def test_a_new_result_format_reruns_everything(tiny_run, package_copy):
    path = package_copy / "difftn/infra/io.py"
    original = path.read_text()
    try:
        path.write_text(original.replace("FORMAT_VERSION = 1", "FORMAT_VERSION = 2"))
        everything = ISING | HEISENBERG | BORN | SPINGLASS | {"spinglass_exact": 1} | INVERSE | DESIGN
        assert planned_jobs(tiny_run, package_copy) == everything
    finally:
        path.write_text(original)
