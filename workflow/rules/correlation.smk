# Correlation lengths from the CTMRG column transfer matrix: Ising xi(beta) beside the exact
# value (one `difftn ising xi` job per chi and beta), and xi against chi of the published C4v
# iPEPS states shipped with difftn (one `difftn heisenberg measure` job per D and chi).


include: "correlation_common.smk"


rule correlation_ising_point:
    output:
        "results/correlation/ising_chi{chi}/beta_{beta}.nc",
    log:
        "results/logs/correlation/ising_chi{chi}/beta_{beta}.log",
    benchmark:
        "results/benchmarks/correlation/ising_chi{chi}/beta_{beta}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        stage="ising xi",
        options=correlation_ising_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*ising_study.XI_MODULES),
    script:
        "../scripts/stage.py"


rule correlation_heisenberg_measure:
    input:
        state=published_state_input,
    output:
        "results/correlation/heisenberg/D{D}_chi{chi}.nc",
    log:
        "results/logs/correlation/heisenberg/D{D}_chi{chi}.log",
    benchmark:
        "results/benchmarks/correlation/heisenberg/D{D}_chi{chi}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=correlation_gpu,
        gpu_model=correlation_gpu_model,
    params:
        stage="heisenberg measure",
        options=correlation_heisenberg_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MEASURE_MODULES),
    script:
        "../scripts/stage.py"


rule correlation_aggregate:
    input:
        checked(
            lambda wildcards: [
                f"results/correlation/{name}.nc"
                for name in correlation_files(wildcards.part)
            ]
        ),
    output:
        nc="results/correlation/{part}/summary.nc",
        csv=report(
            "results/correlation/{part}/summary.csv",
            caption="../report/correlation_summary.rst",
            category="Correlation length",
        ),
    log:
        "results/logs/correlation/{part}/aggregate.log",
    wildcard_constraints:
        part="ising|heisenberg",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="correlation aggregate",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*correlation_study.MODULES),
    script:
        "../scripts/stage.py"


rule correlation_ising_figure:
    input:
        checked("results/correlation/ising/summary.nc"),
    output:
        png=report(
            "results/figures/correlation_ising.png",
            caption="../report/correlation_ising.rst",
            category="Correlation length",
        ),
        pdf="results/figures/correlation_ising.pdf",
    log:
        "results/logs/figures/correlation_ising.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="correlation figure ising",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*CORRELATION_PLOT_MODULES),
    script:
        "../scripts/stage.py"


rule correlation_heisenberg_figure:
    input:
        checked("results/correlation/heisenberg/summary.nc"),
    output:
        png=report(
            "results/figures/correlation_heisenberg.png",
            caption="../report/correlation_heisenberg.rst",
            category="Correlation length",
        ),
        pdf="results/figures/correlation_heisenberg.pdf",
    log:
        "results/logs/figures/correlation_heisenberg.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="correlation figure heisenberg",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*CORRELATION_PLOT_MODULES),
    script:
        "../scripts/stage.py"
