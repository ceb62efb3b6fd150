# 2D Ising study (paper Fig. 3): one job per beta, then one table per (chi, steps).


rule ising_point:
    output:
        "results/ising/chi{chi}_steps{steps}/beta_{beta}.nc",
    log:
        "results/logs/ising/chi{chi}_steps{steps}/beta_{beta}.log",
    benchmark:
        "results/benchmarks/ising/chi{chi}_steps{steps}/beta_{beta}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        format_version=FORMAT_VERSION,
        checkpoint=config["ising"]["checkpoint"],
        symmetry=config["ising"]["symmetry"],
        device=config["ising"]["device"],
        dtype=config["ising"]["dtype"],
        config_hash=config_hash("ising"),
        # Reruns when the library code this stage uses changes.
        source_hash=source_hash(*ising_study.MODULES),
    script:
        "../scripts/ising_point.py"


rule ising_aggregate:
    input:
        checked(ising_points),
    output:
        nc="results/ising/chi{chi}_steps{steps}/summary.nc",
        csv=report(
            "results/ising/chi{chi}_steps{steps}/summary.csv",
            caption="../report/ising_summary.rst",
            category="Ising",
        ),
    log:
        "results/logs/ising/chi{chi}_steps{steps}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        format_version=FORMAT_VERSION,
    script:
        "../scripts/ising_aggregate.py"
