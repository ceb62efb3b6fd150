# 2D Ising study (paper Fig. 3): one job per beta, then one table per (chi, steps).


include: "ising_common.smk"


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
        stage="ising point",
        options=ising_options,
        format_version=FORMAT_VERSION,
        # Reruns when the library code this stage uses changes.
        source_hash=source_hash(*ising_study.MODULES),
    script:
        "../scripts/stage.py"


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
        stage="ising aggregate",
        format_version=FORMAT_VERSION,
    script:
        "../scripts/stage.py"


rule ising_figure:
    input:
        checked(expand("results/ising/{run}/summary.nc", run=ISING_DIRS)),
    output:
        png=report(
            "results/figures/ising_fig3.png",
            caption="../report/ising_fig3.rst",
            category="Ising",
        ),
        pdf="results/figures/ising_fig3.pdf",
    log:
        "results/logs/figures/ising_fig3.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ising figure fig3",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.ising", "difftn.models.ising"
        ),
    script:
        "../scripts/stage.py"
