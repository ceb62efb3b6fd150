# The benchmark records of every compute job as one table for the report (the studies
# register them: register_study in common.smk).


rule benchmark_table:
    input:
        BENCHMARK_RECORDS,
    output:
        report(
            "results/benchmarks/summary.csv",
            caption="../report/benchmarks.rst",
            category="Benchmarks",
        ),
    log:
        "results/logs/benchmarks/summary.log",
    conda:
        "../../envs/difftn.yaml"
    script:
        "../scripts/benchmark_table.py"
