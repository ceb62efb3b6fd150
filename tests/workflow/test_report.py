"""`snakemake --report`: figures, tables, captions and the benchmark record of every compute job."""

import base64
import io
import re

import pandas as pd
from support import REPO, TINY, TINY_CONFIG, api_script_json, job_counts, snakemake


def compute_rules():
    """The rules with a benchmark directive (snakefmt's layout: ``rule NAME:``, then its keywords)."""
    rules, name = set(), None
    for path in (REPO / "workflow/rules").glob("*.smk"):
        for line in path.read_text().splitlines():
            if line.startswith("rule "):
                name = line.removeprefix("rule ").rstrip(":")
            elif line == "    benchmark:":
                rules.add(name)
    return rules


# from the rules' params.caption; the last with the tiny config's values filled in
CAPTIONS = ["Cost of every compute job", "Ising study table", "Heisenberg iPEPS results per bond",
            "through TRG (cutoff 6, 12 steps)"]  # fmt: skip


def test_report_holds_figures_tables_captions_and_benchmarks(tiny_run, tmp_path):
    report = tmp_path / "report.html"
    run = snakemake(tiny_run, "--report", str(report), config=TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    html = report.read_text()
    for figure in ("ising_fig3.png", "heisenberg_fig4.png"):
        assert figure in html
    assert html.count("data:image/png;") >= 2
    # Every entry's caption rendered from its rule's params.caption (a rule without one would
    # render empty), without a reStructuredText error; the params panel repeats the raw text,
    # so the captions are looked for in the rendered field.
    rendered = re.findall(r'"caption": ?"((?:[^"\\]|\\.)*)"', html)
    assert len(rendered) >= 20 and all(c.startswith("<p>") for c in rendered), rendered
    assert "System Message" not in html
    for caption in CAPTIONS:
        assert any(caption in c for c in rendered), caption

    pattern = r"data:text/csv;charset=utf8;filename=summary\.csv;base64,([A-Za-z0-9+/=]+)"
    tables = [pd.read_csv(io.BytesIO(base64.b64decode(data))) for data in re.findall(pattern, html)]
    assert len(tables) >= 3  # Ising, Heisenberg and Born summaries, benchmarks, ...
    ising = next(t for t in tables if "lnz_exact" in t)
    assert list(ising.beta) == [0.40, 0.44, 0.48]
    heisenberg = next(t for t in tables if "energy_relative_error" in t)
    assert list(heisenberg.D) == [1, 2]
    benchmarks = next(t for t in tables if "max_rss" in t)
    # one record per compute job: 3 Ising points, 2 optimizations, 3 measurements
    jobs = benchmarks.groupby("study").job.apply(sorted).to_dict()
    assert jobs["ising"] == [f"chi6_steps12/beta_{b}" for b in ("0.400", "0.440", "0.480")]
    assert jobs["heisenberg"] == [
        "D1_chi4/measure_chi4", "D1_chi4/optimize",
        "D2_chi8/measure_chi10", "D2_chi8/measure_chi8", "D2_chi8/optimize",
    ]  # fmt: skip
    # One record per compute job (a rule with a benchmark directive) of every study, each in the table
    # once; a new study's jobs count with no edit here.
    written = sorted(str(path.relative_to(tiny_run / "results/benchmarks").with_suffix(""))
                     for path in (tiny_run / "results/benchmarks").rglob("*.tsv"))  # fmt: skip
    assert sorted(f"{study}/{job}" for study, job in zip(benchmarks.study, benchmarks.job)) == written
    plan = snakemake(tiny_run, "-n", "--forceall", config=TINY)
    assert plan.returncode == 0, plan.stderr[-3000:]
    planned = job_counts(plan.stdout)
    assert len(written) == sum(planned.get(rule, 0) for rule in compute_rules())
    assert len(set(benchmarks.study)) >= 9  # ising, heisenberg, born, ppeps, spin glass, inverse, design, ...
    assert (benchmarks.s > 0).all() and (benchmarks.max_rss > 0).all()


# Builds the tiny config's job graph through Snakemake's API and prints, per job with a
# caption, whether its caption is among the params Snakemake records to decide reruns.
_RECORDED_CAPTIONS = """
import json, sys
from snakemake.settings.types import DAGSettings
from workflow_api import loaded_workflow

with loaded_workflow(sys.argv[1]) as workflow_api:
    workflow_api.dag(DAGSettings(forceall=True))
    workflow = workflow_api._workflow
    workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True)
    workflow._build_dag()
    recorded = {
        job.rule.name: any(str(job.params.caption) in value for value in workflow.persistence._params(job))
        for job in workflow.dag.jobs if "caption" in job.params.keys()
    }
print(json.dumps(recorded))
"""


def test_editing_a_caption_reruns_no_job():
    """Snakemake reruns a job whose recorded params changed; a caption must not be one of them."""
    recorded = api_script_json(_RECORDED_CAPTIONS, TINY_CONFIG)
    assert len(recorded) >= 20, recorded  # every captioned rule of the tiny study
    assert not any(recorded.values()), recorded
