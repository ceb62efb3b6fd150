# J1-J2 sweep (issue 13): at each J2/J1 of the config, the Heisenberg optimize and
# measure stages with --J2 (D chained from the previous D of the same J2),
# measured at the optimization chi and measure_chi; one table over (J2, D) beside
# the published C4v states, one figure.


include: "j1j2_common.smk"


rule j1j2_optimize:
    input:
        unpack(checked(j1j2_init)),
    output:
        "results/j1j2/J2_{J2}/D{D}_chi{chi}/state.nc",
    log:
        "results/logs/j1j2/J2_{J2}/D{D}_chi{chi}/optimize.log",
    benchmark:
        "results/benchmarks/j1j2/J2_{J2}/D{D}_chi{chi}/optimize.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=600,
        gpu=j1j2_gpu,
        gpu_model=j1j2_gpu_model,
    params:
        stage="heisenberg optimize",
        # progress.nc survives a killed job (its declared output is deleted) and is resumed
        options=j1j2_optimize_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MODULES),
    script:
        "../scripts/stage.py"


rule j1j2_measure:
    input:
        state=checked("results/j1j2/J2_{J2}/D{D}_chi{chi}/state.nc"),
    output:
        "results/j1j2/J2_{J2}/D{D}_chi{chi}/observables_chi{mchi}.nc",
    log:
        "results/logs/j1j2/J2_{J2}/D{D}_chi{chi}/measure_chi{mchi}.log",
    benchmark:
        "results/benchmarks/j1j2/J2_{J2}/D{D}_chi{chi}/measure_chi{mchi}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: config["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=j1j2_gpu,
        gpu_model=j1j2_gpu_model,
    params:
        stage="heisenberg measure",
        options=j1j2_measure_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MEASURE_MODULES),
    script:
        "../scripts/stage.py"


rule j1j2_aggregate:
    input:
        checked(j1j2_observables),
    output:
        nc="results/j1j2/summary.nc",
        csv=report(
            "results/j1j2/summary.csv",
            caption="../report/j1j2_summary.rst",
            category="J1-J2",
        ),
    log:
        "results/logs/j1j2/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="j1j2 aggregate",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*j1j2_study.MODULES),
    script:
        "../scripts/stage.py"


rule j1j2_figure:
    input:
        checked("results/j1j2/summary.nc"),
    output:
        png=report(
            "results/figures/j1j2_energy.png",
            caption="../report/j1j2_energy.rst",
            category="J1-J2",
        ),
        pdf="results/figures/j1j2_energy.pdf",
    log:
        "results/logs/figures/j1j2_energy.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="j1j2 figure energy",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.j1j2", "difftn.data.reference"
        ),
    script:
        "../scripts/stage.py"
