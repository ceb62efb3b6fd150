"""Per-module reruns: a change to one library module reruns exactly the rules that use it.

"Use" is read off the import statements: a rule uses the difftn modules that
the study or plot function its ``difftn`` command runs reaches through imports
(less NOT_RESULTS, and the rule's UNUSED_IMPORTS), and a change to one of them
reruns its jobs and every job downstream.  So a new study or module needs no
entry here.  Each rule holds the source hash of the modules it lists (its
study's MODULES) as a parameter, so Snakemake's params trigger its reruns.  All
on the TINY config and a copy of the package with one module edited (a comment
appended):

* every library module, in one process (rule_sources.py): the jobs of the rules
  whose ``source_hash`` param the edit changes, followed down the workflow's job
  graph, are exactly those of the rules that use it, followed down the graph;
* each rule hashes (itself or upstream of it) every module it uses, so a module
  left out of a study's MODULES cannot hide (a clearer message for the same);
* a few cases stated by hand, so that the import reading itself is tested;
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

# Modules that Snakemake really dry-runs an edit of (the rest are checked through the rule graph):
# a linalg file, a model two studies use, a plotting module.
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


def library_modules():
    """Every module file of the package, relative to src/ (e.g. difftn/linalg/svd.py)."""
    return sorted(str(p.relative_to(REPO / "src")) for p in (REPO / "src/difftn").rglob("*.py"))


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A copy of src/ that the tests may edit."""
    root = tmp_path_factory.mktemp("src")
    shutil.copytree(REPO / "src/difftn", root / "difftn", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture(scope="module")
def rule_graph(package_copy, tmp_path_factory):
    """rule_sources.py's answer for every library module (see there)."""
    out = tmp_path_factory.mktemp("rule_graph")
    config = out / "config.yaml"
    config.write_text(yaml.safe_dump(TINY))
    (out / "workdir").mkdir()
    run = subprocess.run(
        [sys.executable, str(RULE_SOURCES), str(config), str(out / "workdir"), str(out / "graph.json"), *library_modules()],
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


@pytest.fixture(scope="module")
def used(rule_graph):
    """Rule -> the library files (relative to src/) that its command uses: the modules its
    study or plot function reaches through imports, less NOT_RESULTS and its UNUSED_IMPORTS."""
    root = REPO / "src"
    return {
        name: {str(module_file(root, m).relative_to(root))
               for m in stage_modules(root, stage_module(rule["stage"]), UNUSED_IMPORTS.get(name, {}))
               if m not in NOT_RESULTS}
        for name, rule in rule_graph["rules"].items() if rule["stage"] is not None
    }  # fmt: skip


def expected_reruns(graph, used, module):
    """Rule -> number of jobs that a change to ``module`` must rerun: the jobs of the rules that
    use it and every job downstream of them."""
    return downstream_jobs(graph, {name for name, files in used.items() if module in files})


def test_a_module_change_reruns_exactly_the_rules_that_use_it(rule_graph, used):
    assert sorted(rule_graph["changed"]) == library_modules()
    wrong = {}
    for module, changed in rule_graph["changed"].items():
        reruns, expected = downstream_jobs(rule_graph, changed), expected_reruns(rule_graph, used, module)
        if reruns != expected:
            wrong[module] = {"rerun, unused": sorted(set(reruns) - set(expected)),
                             "used, not rerun": sorted(set(expected) - set(reruns))}  # fmt: skip
    assert not wrong, f"module -> rules whose reruns differ from its use: {wrong}"


def test_the_reading_of_use_on_cases_stated_by_hand(rule_graph, used):

    def rerun_rules(module):
        return set(expected_reruns(rule_graph, used, module))

    ising = {"ising_point", "ising_aggregate", "ising_figure", "benchmark_table"}
    assert rerun_rules("difftn/contract/trg.py") == ising
    # the partial eigensolver serves CTMRG (Heisenberg, J1-J2, the correlation lengths), not TRG
    ctmrg_rules = rerun_rules("difftn/linalg/partial_eigh.py")
    assert {"heisenberg_optimize", "j1j2_optimize", "correlation_ising_point"} <= ctmrg_rules
    assert not ctmrg_rules & {"ising_point", "spinglass_point", "born_train", "ppeps_train", "design"}
    # the TRG's truncation helper serves TRG, boundary MPS and the Born machine, not CTMRG
    assert {"ising_point", "spinglass_point", "born_train", "ppeps_train"} <= rerun_rules("difftn/linalg/truncation.py")
    assert "heisenberg_optimize" not in rerun_rules("difftn/linalg/truncation.py")
    assert rerun_rules("difftn/linalg/qr.py") == set()  # public API; no study uses it
    assert rerun_rules("difftn/plots/spinglass.py") == {"spinglass_convergence_figure",
                                                         "spinglass_correlations_figure", "inverse_ising_figure"}
    assert rerun_rules("difftn/cli.py") == rerun_rules("difftn/infra/io.py") == set()


def test_the_import_graph_follows_relative_and_package_imports():
    root = REPO / "src"
    reached = stage_modules(root, stage_module("ising figure fig3"))
    assert {"difftn.plots.ising", "difftn.plots.common", "difftn.models.ising"} <= reached
    point = stage_modules(root, stage_module("ising point"))
    assert {"difftn.linalg.svd", "difftn.contract.trg", "difftn.methods.thermodynamics", "difftn.infra.io"} <= point
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
def test_snakemake_reruns_only_the_rules_of_a_changed_module(tiny_run, package_copy, rule_graph, used, module):
    expected = expected_reruns(rule_graph, used, module)
    assert expected  # each of DRY_RUNS is used by some rule
    path = package_copy / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        assert planned_jobs(tiny_run, package_copy) == expected
    finally:
        path.write_text(original)


def test_a_new_result_format_reruns_everything(tiny_run, package_copy, rule_graph):
    everything = dict(Counter(rule for rule in rule_graph["jobs"].values() if rule != "all"))
    assert len(everything) > 30  # every rule of the workflow has a job in TINY
    path = package_copy / "difftn/infra/io.py"
    original = path.read_text()
    try:
        path.write_text(original.replace("FORMAT_VERSION = 1", "FORMAT_VERSION = 2"))
        assert planned_jobs(tiny_run, package_copy) == everything
    finally:
        path.write_text(original)
