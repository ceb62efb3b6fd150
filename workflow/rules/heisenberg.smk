# Heisenberg iPEPS study (paper Fig. 4): optimize per D (from the previous D's state, a
# published one or a random start: heisenberg.init), measure at the optimization chi and a
# larger one, aggregate.


include: "heisenberg_common.smk"


rule heisenberg_optimize:
    input:
        unpack(checked(heisenberg_init)),
    output:
        "results/heisenberg/D{D}_chi{chi}/state.nc",
    log:
        "results/logs/heisenberg/D{D}_chi{chi}/optimize.log",
    benchmark:
        "results/benchmarks/heisenberg/D{D}_chi{chi}/optimize.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=600,
        gpu=heisenberg_gpu,
        gpu_model=heisenberg_gpu_model,
    params:
        stage="heisenberg optimize",
        # progress.nc survives a killed job (its declared output is deleted) and is resumed
        options=heisenberg_optimize_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MODULES),
    script:
        "../scripts/stage.py"


rule heisenberg_measure:
    input:
        state=checked("results/heisenberg/D{D}_chi{chi}/state.nc"),
    output:
        "results/heisenberg/D{D}_chi{chi}/observables_chi{mchi}.nc",
    log:
        "results/logs/heisenberg/D{D}_chi{chi}/measure_chi{mchi}.log",
    benchmark:
        "results/benchmarks/heisenberg/D{D}_chi{chi}/measure_chi{mchi}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=heisenberg_gpu,
        gpu_model=heisenberg_gpu_model,
    params:
        stage="heisenberg measure",
        options=heisenberg_measure_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MEASURE_MODULES),
    script:
        "../scripts/stage.py"


rule heisenberg_aggregate:
    input:
        checked(heisenberg_observables),
    output:
        nc="results/heisenberg/summary.nc",
        csv=report(
            "results/heisenberg/summary.csv",
            caption="../report/heisenberg_summary.rst",
            category="Heisenberg",
        ),
    log:
        "results/logs/heisenberg/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="heisenberg aggregate",
        format_version=FORMAT_VERSION,
    script:
        "../scripts/stage.py"


rule heisenberg_figure:
    input:
        checked("results/heisenberg/summary.nc"),
    output:
        png=report(
            "results/figures/heisenberg_fig4.png",
            caption="../report/heisenberg_fig4.rst",
            category="Heisenberg",
        ),
        pdf="results/figures/heisenberg_fig4.pdf",
    log:
        "results/logs/figures/heisenberg_fig4.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="heisenberg figure fig4",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.heisenberg", "difftn.data.reference"
        ),
    script:
        "../scripts/stage.py"
