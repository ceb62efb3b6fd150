"""Per-module reruns: a change to one library module reruns exactly the rules that use it.

Each rule holds the source hash of the modules it uses as a parameter, so
Snakemake's params trigger reruns it when one of them changes, and every job
downstream of it.  Three checks, all on the TINY config and a copy of the
package with one module edited (a comment appended):

* every module in RERUNS, in one process (rule_sources.py): the rules whose
  ``source_hash`` param the edit changes, followed down the workflow's job
  graph, are exactly RERUNS[module];
* each rule hashes (itself or upstream of it) every difftn module that the
  study or plot function its ``difftn`` command runs imports, so a module left
  out of a study's MODULES cannot hide;
* for the modules in DRY_RUNS, an unchanged package and a new result format,
  Snakemake itself (dry run on a finished tiny run) plans exactly those jobs:
  the rule graph model above is Snakemake's behaviour.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from support import REPO, TINY, job_counts, snakemake

TABLE = {"benchmark_table": 1}  # the report's table of benchmark records follows every compute job
ISING = {"ising_point": 3, "ising_aggregate": 1, "ising_figure": 1} | TABLE
HEISENBERG = {"heisenberg_optimize": 2, "heisenberg_measure": 3, "heisenberg_aggregate": 1,
              "heisenberg_figure": 1} | TABLE  # fmt: skip
HEISENBERG_MEASURE = {"heisenberg_measure": 3, "heisenberg_aggregate": 1, "heisenberg_figure": 1} | TABLE
# the J1-J2 sweep runs the Heisenberg stages: 2 J2 values x D = 2, measured at the optimization chi
J1J2 = {"j1j2_optimize": 2, "j1j2_measure": 2, "j1j2_aggregate": 1, "j1j2_figure": 1} | TABLE
J1J2_MEASURE = {"j1j2_measure": 2, "j1j2_aggregate": 1, "j1j2_figure": 1} | TABLE
BORN_FIGURES = {"born_nll_figure": 1, "born_samples_figure": 2}
BORN = {"born_train": 3, "born_sample": 2, "born_aggregate": 2} | BORN_FIGURES | TABLE
PPEPS_FIGURES = {"ppeps_nll_figure": 1, "ppeps_samples_figure": 1}
PPEPS = {"ppeps_train": 2, "ppeps_sample": 1, "ppeps_aggregate": 1} | PPEPS_FIGURES | TABLE
SPINGLASS_FIGURES = {"spinglass_convergence_figure": 1, "spinglass_correlations_figure": 1}
SPINGLASS = {"spinglass_point": 2, "spinglass_aggregate": 1} | SPINGLASS_FIGURES | TABLE
INVERSE = {"inverse_ising_exact": 1, "inverse_ising_samples": 2, "inverse_ising_aggregate": 1,
           "inverse_ising_figure": 1} | TABLE  # fmt: skip
DESIGN = {"design": 1} | TABLE
XI_FIGURES = {"correlation_ising_figure": 1, "correlation_heisenberg_figure": 1}  # both draw exact and published values
XI_ISING = {"correlation_ising_point": 2, "correlation_aggregate": 1, "correlation_ising_figure": 1} | TABLE
XI_HEIS = {"correlation_heisenberg_measure": 2, "correlation_aggregate": 1, "correlation_heisenberg_figure": 1} | TABLE
CORRELATION = ({"correlation_ising_point": 2, "correlation_heisenberg_measure": 2, "correlation_aggregate": 2}
               | XI_FIGURES | TABLE)  # fmt: skip
FIGURES = ({"ising_figure": 1, "heisenberg_figure": 1, "inverse_ising_figure": 1, "j1j2_figure": 1} | BORN_FIGURES
           | PPEPS_FIGURES | SPINGLASS_FIGURES)

# module file (relative to src/) -> jobs a change to it reruns, for the TINY config
RERUNS = {
    "difftn/contract/trg.py": ISING,
    "difftn/models/ising.py": ISING | XI_ISING | XI_FIGURES,
    "difftn/methods/thermodynamics.py": ISING,
    "difftn/studies/ising.py": ISING | XI_ISING,
    "difftn/linalg/svd.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/linalg/eigh.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/contract/ctmrg.py": HEISENBERG | J1J2 | CORRELATION,
    "difftn/contract/quasiparticle.py": XI_ISING,
    "difftn/contract/fixedpoint.py": HEISENBERG | J1J2 | XI_HEIS,
    "difftn/methods/ipeps.py": HEISENBERG | J1J2 | XI_HEIS,
    "difftn/models/heisenberg.py": HEISENBERG | J1J2 | XI_HEIS,
    "difftn/methods/optimize.py": HEISENBERG | J1J2 | INVERSE | DESIGN | XI_HEIS,
    "difftn/methods/hessian.py": HEISENBERG | J1J2 | INVERSE | DESIGN | XI_HEIS,
    "difftn/data/reference.py": HEISENBERG_MEASURE | J1J2_MEASURE | XI_HEIS | XI_FIGURES,
    "difftn/methods/born/mps.py": BORN | PPEPS,
    "difftn/data/datasets.py": BORN | PPEPS,
    "difftn/contract/boundary_mps.py": SPINGLASS | INVERSE | PPEPS,
    "difftn/models/spinglass.py": SPINGLASS | {"spinglass_exact": 1} | INVERSE,
    "difftn/methods/inverse_ising.py": INVERSE,
    "difftn/methods/fidelity_design.py": DESIGN,
    "difftn/plots/__init__.py": {},
    "difftn/plots/common.py": FIGURES | XI_FIGURES,
    "difftn/plots/ising.py": {"ising_figure": 1},
    "difftn/plots/heisenberg.py": {"heisenberg_figure": 1},
    "difftn/plots/j1j2.py": {"j1j2_figure": 1},
    "difftn/plots/inverse_ising.py": {"inverse_ising_figure": 1},
    "difftn/plots/born.py": BORN_FIGURES | PPEPS_FIGURES,  # plots/ppeps.py draws with born's functions
    "difftn/plots/spinglass.py": SPINGLASS_FIGURES | {"inverse_ising_figure": 1},
    "difftn/cli.py": {},
    "difftn/__main__.py": {},
    "difftn/infra/runtime.py": {},
    "difftn/__init__.py": {},
    "difftn/linalg/__init__.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/linalg/qr.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/linalg/broadening.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/linalg/truncation.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | BORN | PPEPS | CORRELATION,
    "difftn/linalg/krylov.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/linalg/polar.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/linalg/partial_eigh.py": ISING | HEISENBERG | J1J2 | SPINGLASS | INVERSE | DESIGN | PPEPS | CORRELATION,
    "difftn/models/__init__.py": {},
    "difftn/models/tfim.py": DESIGN,
    "difftn/methods/spinglass_solver.py": SPINGLASS | INVERSE,
    "difftn/contract/__init__.py": {},
    "difftn/methods/__init__.py": {},
    "difftn/infra/__init__.py": {},
    "difftn/data/__init__.py": {},
    "difftn/methods/born/__init__.py": BORN | PPEPS,
    "difftn/methods/born/train.py": BORN | PPEPS,
    "difftn/methods/born/sample.py": BORN | PPEPS,
    "difftn/methods/born/baseline.py": BORN | PPEPS,
    "difftn/studies/__init__.py": {},
    "difftn/studies/heisenberg.py": HEISENBERG | J1J2 | XI_HEIS,
    "difftn/studies/j1j2.py": {"j1j2_aggregate": 1, "j1j2_figure": 1},
    "difftn/studies/born.py": BORN | PPEPS,  # the positive PEPS loads its data through it
    "difftn/studies/spinglass.py": SPINGLASS | {"spinglass_exact": 1},
    "difftn/studies/inverse_ising.py": INVERSE,
    "difftn/studies/design.py": DESIGN,
    # io.py's FORMAT_VERSION has its own test below; an edit that keeps it reruns nothing.
    "difftn/infra/io.py": {},
    "difftn/infra/provenance.py": {},
    "difftn/infra/options.py": {},
    "difftn/methods/ppeps/__init__.py": PPEPS,
    "difftn/methods/ppeps/model.py": PPEPS,
    "difftn/methods/ppeps/train.py": PPEPS,
    "difftn/methods/ppeps/sample.py": PPEPS,
    "difftn/studies/ppeps.py": PPEPS,
    "difftn/plots/ppeps.py": PPEPS_FIGURES,
    "difftn/studies/correlation.py": {"correlation_aggregate": 2} | XI_FIGURES,
    "difftn/plots/correlation.py": XI_FIGURES,
}


# Modules that Snakemake really dry-runs an edit of (the rest are checked through the rule graph):
# a file inside a hashed package, a model two studies use, a plotting module.
DRY_RUNS = ("difftn/linalg/svd.py", "difftn/models/spinglass.py", "difftn/plots/spinglass.py")

# Modules a stage may import without any rule hashing them: they decide no number of a result.
NOT_RESULTS = {
    "difftn": "the package's docstring and version string",
    "difftn.infra.io": "reads and writes files; its FORMAT_VERSION is a param of every rule (own test below)",
    "difftn.infra.provenance": "records where a result came from",
    "difftn.infra.runtime": "device, dtype and thread settings, which are params of the rules",
    "difftn.infra.options": "option annotations; the option values are params of the rules",
    **{f"difftn.{layer}": "the subpackage's docstring" for layer in ("infra", "data", "models", "contract", "methods",
                                                                     "plots", "studies")},
}  # fmt: skip

# Imports a rule's script reaches that the rule's results do not use (function-level facts the
# module-level import check below cannot see): not counted, not followed.  Keep this short.
UNUSED_IMPORTS = {
    "heisenberg_optimize": {"difftn.data.reference": "QMC_ENERGY serves measure() only"},
    "j1j2_optimize": {"difftn.data.reference": "QMC_ENERGY serves measure() only"},
    "ising_point": {"difftn.contract.ctmrg": "correlation_point (difftn ising xi) only",
                    "difftn.contract.quasiparticle": "correlation_point (difftn ising xi) only"},
    "ising_aggregate": {"difftn.contract.ctmrg": "correlation_point (difftn ising xi) only",
                        "difftn.contract.quasiparticle": "correlation_point (difftn ising xi) only"},
    "correlation_ising_point": {"difftn.methods.thermodynamics": "compute_point (difftn ising point) only",
                                "difftn.contract.fixedpoint": "the fixed-point backward; xi takes no gradient"},
    "spinglass_exact": {"difftn.contract.boundary_mps": "compute_exact uses the transfer matrix",
                        "difftn.methods.spinglass_solver": "compute_point's solver; compute_exact does not call it"},
}  # fmt: skip

RULE_SOURCES = REPO / "tests/workflow/rule_sources.py"


def test_the_table_covers_every_library_module():
    modules = {str(p.relative_to(REPO / "src")) for p in (REPO / "src/difftn").rglob("*.py")}
    assert modules == set(RERUNS), (sorted(modules - set(RERUNS)), sorted(set(RERUNS) - modules))


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A copy of src/ that the tests may edit."""
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "src/difftn", root / "difftn", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def rule_graph(package_copy, tmp_path_factory):
    """rule_sources.py's answer for every module of RERUNS (see there)."""
    out = tmp_path_factory.mktemp("rule_graph")
    config = out / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    (out / "workdir").mkdir()
    run = subprocess.run(
        [sys.executable, str(RULE_SOURCES), str(config), str(out / "workdir"), str(out / "graph.json"), *sorted(RERUNS)],
        env={**os.environ, "PYTHONPATH": str(package_copy)}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    graph = json.loads((out / "graph.json").read_text())
    assert graph["package_root"] == str(package_copy)  # the edited files are the ones hashed
    return graph


def downstream_jobs(graph, rules):
    """Rule -> number of jobs, of the jobs of ``rules`` and every job downstream of them ('all' left out)."""
    below = {}
    for upstream, downstream in graph["edges"]:
        below.setdefault(str(upstream), []).append(str(downstream))
    todo = [job for job, rule in graph["jobs"].items() if rule in rules]
    seen = set(todo)
    while todo:
        for job in below.get(todo.pop(), []):
            if job not in seen:
                seen.add(job)
                todo.append(job)
    return dict(Counter(graph["jobs"][job] for job in seen if graph["jobs"][job] != "all"))


def upstream_rules(graph, rule):
    """The rule and every rule with a job upstream of one of its jobs."""
    above = {}
    for upstream, downstream in graph["edges"]:
        above.setdefault(str(downstream), []).append(str(upstream))
    todo = [job for job, name in graph["jobs"].items() if name == rule]
    seen = set(todo)
    while todo:
        for job in above.get(todo.pop(), []):
            if job not in seen:
                seen.add(job)
                todo.append(job)
    return {graph["jobs"][job] for job in seen} | {rule}


def test_the_rule_graph_holds_the_hashing_rules(rule_graph):
    # The check below is empty unless rules hash modules and have jobs in TINY.
    hashing = {name for name, rule in rule_graph["rules"].items() if rule["modules"]}
    assert hashing >= {"ising_point", "heisenberg_optimize", "born_train", "ppeps_train", "spinglass_point", "design",
                       "ising_figure"}
    assert hashing <= set(rule_graph["jobs"].values())


@pytest.mark.parametrize("module", sorted(RERUNS))
def test_a_module_change_reruns_only_its_rules(rule_graph, module):
    assert downstream_jobs(rule_graph, rule_graph["changed"][module]) == RERUNS[module]


def module_file(root, module):
    """The source file of a dotted module name under ``root``, or None if there is none."""
    path = root.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def difftn_imports(root, path, module):
    """The difftn modules that the import statements of one file (``module``, or None for a script) name.

    ``from X import name`` names X.name where that is a module, else X (a
    package names its __init__.py, which source_hash counts with the whole
    package).  Importing X.Y runs X's __init__.py too, but that alone is no
    dependency of X.Y's users: it is not counted.
    """
    package = None if module is None else (module if path.name == "__init__.py" else module.rpartition(".")[0])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if module_file(root, f"{base}.{alias.name}") else base)
    return {name for name in found if name.split(".")[0] == "difftn"}


def stage_module(stage):
    """The module of the study or plot function that ``difftn <stage>`` runs."""
    from difftn.cli import STAGES

    study, name, *figure = stage.split()
    entry = STAGES[study][name]
    return (entry.figures[figure[0]][0] if figure else entry.function).partition(":")[0]


def stage_modules(root, module, unused=()):
    """``module`` and every difftn module it reaches through imports, less ``unused`` (not followed)."""
    todo, seen = [module], {module}
    while todo:
        name = todo.pop()
        path = module_file(root, name)
        assert path is not None, f"{module} reaches {name}, which has no source file"
        for other in difftn_imports(root, path, name) - seen - set(unused):
            seen.add(other)
            todo.append(other)
    return seen


def test_the_import_graph_follows_relative_and_package_imports():
    root = REPO / "src"
    reached = stage_modules(root, stage_module("ising figure fig3"))
    assert {"difftn.plots.ising", "difftn.plots.common", "difftn.models.ising"} <= reached
    point = stage_modules(root, stage_module("ising point"))
    assert {"difftn.linalg", "difftn.contract.trg", "difftn.methods.thermodynamics", "difftn.infra.io"} <= point
    assert "difftn.contract.trg" not in stage_modules(root, stage_module("ising point"),
                                                      unused=["difftn.methods.thermodynamics"])  # fmt: skip


def test_every_rule_hashes_the_modules_its_stage_imports(rule_graph):
    rules = rule_graph["rules"]
    assert set(UNUSED_IMPORTS) <= set(rules)
    missing = {}
    for name, rule in rules.items():
        if rule["stage"] is None:
            continue
        hashed = {m for r in upstream_rules(rule_graph, name) for m in rules[r]["modules"] or ()}
        reached = stage_modules(REPO / "src", stage_module(rule["stage"]), UNUSED_IMPORTS.get(name, {}))
        unhashed = sorted(
            module for module in reached
            if module not in NOT_RESULTS and not any(module == h or module.startswith(h + ".") for h in hashed)
        )  # fmt: skip
        if unhashed:
            missing[name] = unhashed
    assert not missing, f"rule -> modules its stage imports that neither it nor a rule upstream hashes: {missing}"


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


@pytest.mark.parametrize("module", DRY_RUNS)
def test_snakemake_reruns_only_the_rules_of_a_changed_module(tiny_run, package_copy, module):
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
        everything = (ISING | HEISENBERG | J1J2 | BORN | PPEPS | SPINGLASS | {"spinglass_exact": 1} | INVERSE | DESIGN
                      | CORRELATION)
        assert planned_jobs(tiny_run, package_copy) == everything
    finally:
        path.write_text(original)
