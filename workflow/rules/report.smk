# The benchmark records of every compute job as one table for the report (the studies
# register them: register_study in common.smk).


rule benchmark_table:
    input:
        BENCHMARK_RECORDS,
    output:
        report(
            "results/benchmarks/summary.csv",
            caption=REPORT_CAPTION,
            category="Benchmarks",
        ),
    log:
        "results/logs/benchmarks/summary.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        caption=report_caption(
            "Cost of every compute job, from Snakemake's ``benchmark:`` records: wall time "
            "``s``, peak resident memory ``max_rss`` (MB), CPU time, mean load, I/O. One row "
            "per job; ``rule`` and ``job`` name it. Times depend on the machine and on what "
            "else ran on it."
        ),
    script:
        "../scripts/benchmark_table.py"
