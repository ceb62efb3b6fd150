"""`snakemake --report`: figures, tables, captions and the benchmark record of every compute job."""

import base64
import io
import re

import pandas as pd
from support import TINY, snakemake

CAPTIONS = ["Cost of every compute job", "Ising study table", "Heisenberg iPEPS results per bond"]


def test_report_holds_figures_tables_captions_and_benchmarks(tiny_run, tmp_path):
    report = tmp_path / "report.html"
    run = snakemake(tiny_run, "--report", str(report), config=TINY)
    assert run.returncode == 0, run.stderr[-3000:]
    html = report.read_text()
    for figure in ("ising_fig3.png", "heisenberg_fig4.png"):
        assert figure in html
    assert html.count("data:image/png;") >= 2
    for caption in CAPTIONS:
        assert caption in html, caption

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
    counts = {study: len(names) for study, names in jobs.items()}
    # Born: 3 trainings, 2 sample sets; ppeps: 2 trainings, 1 sample set; spin glass: 2 points, 1 exact;
    # inverse: exact + 2 N; design: 1; J1-J2: 2 J2 x (1 optimization + 1 measurement);
    # correlation: 2 Ising xi points, 2 measurements of a published state
    assert counts == {"ising": 3, "heisenberg": 5, "born": 5, "ppeps": 3, "spinglass": 3, "inverse_ising": 3,
                      "design": 1, "j1j2": 4, "correlation": 4}
    assert (benchmarks.s > 0).all() and (benchmarks.max_rss > 0).all()
