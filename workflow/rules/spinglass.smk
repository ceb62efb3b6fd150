# Spin-glass studies (issue 5): boundary MPS + AD per (L, seed, chi) against an
# exact transfer-matrix reference; inverse Ising per number of samples N;
# Hamiltonian design of a TFIM chain (one point).  Threads per job come from
# each section: these are tiny matrices, for which one torch thread is fastest
# (2 threads were 4x slower on a loaded 2-core machine).


include: "spinglass_common.smk"


rule spinglass_point:
    output:
        "results/spinglass/L{L}_seed{seed}/chi{chi}.nc",
    log:
        "results/logs/spinglass/L{L}_seed{seed}/chi{chi}.log",
    benchmark:
        "results/benchmarks/spinglass/L{L}_seed{seed}/chi{chi}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: SG["threads"]
    resources:
        mem_mb=spinglass_mem_mb,
        runtime=60,
    params:
        stage="spinglass point",
        options=spinglass_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*spinglass_study.MODULES),
    script:
        "../scripts/stage.py"


rule spinglass_exact:
    output:
        "results/spinglass/L{L}_seed{seed}/exact.nc",
    log:
        "results/logs/spinglass/L{L}_seed{seed}/exact.log",
    benchmark:
        "results/benchmarks/spinglass/L{L}_seed{seed}/exact.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: SG["threads"]
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        stage="spinglass exact",
        options=spinglass_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*spinglass_study.EXACT_MODULES),
    script:
        "../scripts/stage.py"


rule spinglass_aggregate:
    input:
        checked(spinglass_files),
    output:
        nc="results/spinglass/summary.nc",
        csv=report(
            "results/spinglass/summary.csv",
            caption="../report/spinglass_summary.rst",
            category="Spin glass",
        ),
    log:
        "results/logs/spinglass/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="spinglass aggregate",
        format_version=FORMAT_VERSION,
    script:
        "../scripts/stage.py"


rule spinglass_convergence_figure:
    input:
        checked("results/spinglass/summary.nc"),
    output:
        png=report(
            "results/figures/spinglass_convergence.png",
            caption="../report/spinglass_convergence.rst",
            category="Spin glass",
        ),
        pdf="results/figures/spinglass_convergence.pdf",
    log:
        "results/logs/figures/spinglass_convergence.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        format_version=FORMAT_VERSION,
        stage="spinglass figure convergence",
        source_hash=source_hash("difftn.plots.common", "difftn.plots.spinglass"),
    script:
        "../scripts/stage.py"


rule spinglass_correlations_figure:
    input:
        checked(spinglass_figure_files),
    output:
        png=report(
            "results/figures/spinglass_correlations.png",
            caption="../report/spinglass_correlations.rst",
            category="Spin glass",
        ),
        pdf="results/figures/spinglass_correlations.pdf",
    log:
        "results/logs/figures/spinglass_correlations.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        format_version=FORMAT_VERSION,
        stage="spinglass figure correlations",
        source_hash=source_hash("difftn.plots.common", "difftn.plots.spinglass"),
    script:
        "../scripts/stage.py"


rule inverse_ising_exact:
    output:
        f"results/inverse_ising/{INV_TAG}/exact.nc",
    log:
        f"results/logs/inverse_ising/{INV_TAG}/exact.log",
    benchmark:
        f"results/benchmarks/inverse_ising/{INV_TAG}/exact.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: INV["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        stage="inverse-ising exact",
        options={**INV_FIT, "config_hash": config_hash("inverse_ising")},
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*inverse_study.MODULES),
    script:
        "../scripts/stage.py"


rule inverse_ising_samples:
    output:
        f"results/inverse_ising/{INV_TAG}/N{{N}}.nc",
    log:
        f"results/logs/inverse_ising/{INV_TAG}/N{{N}}.log",
    benchmark:
        f"results/benchmarks/inverse_ising/{INV_TAG}/N{{N}}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: INV["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        stage="inverse-ising samples",
        options=lambda wildcards: {
            **INV_FIT,
            "N": int(wildcards.N),
            "repeats": INV["repeats"],
            "sample_seed": INV["sample_seed"],
            "config_hash": config_hash("inverse_ising"),
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*inverse_study.MODULES),
    script:
        "../scripts/stage.py"


rule inverse_ising_aggregate:
    input:
        checked(inverse_ising_files),
    output:
        nc=f"results/inverse_ising/{INV_TAG}/summary.nc",
        csv=report(
            f"results/inverse_ising/{INV_TAG}/summary.csv",
            caption="../report/inverse_ising_summary.rst",
            category="Spin glass",
        ),
    log:
        f"results/logs/inverse_ising/{INV_TAG}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="inverse-ising aggregate",
        format_version=FORMAT_VERSION,
    script:
        "../scripts/stage.py"


rule inverse_ising_figure:
    input:
        checked(f"results/inverse_ising/{INV_TAG}/summary.nc"),
    output:
        png=report(
            "results/figures/inverse_ising_recovery.png",
            caption="../report/inverse_ising_recovery.rst",
            category="Spin glass",
        ),
        pdf="results/figures/inverse_ising_recovery.pdf",
    log:
        "results/logs/figures/inverse_ising_recovery.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        format_version=FORMAT_VERSION,
        stage="inverse-ising figure recovery",
        source_hash=source_hash(
            "difftn.plots.common",
            "difftn.plots.spinglass",
            "difftn.plots.inverse_ising",
        ),
    script:
        "../scripts/stage.py"


rule design:
    output:
        "results/design/sites{sites}_seed{seed}.nc",
    log:
        "results/logs/design/sites{sites}_seed{seed}.log",
    benchmark:
        "results/benchmarks/design/sites{sites}_seed{seed}.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: DESIGN["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        stage="design point",
        options={
            **{
                k: DESIGN[k]
                for k in (
                    "sites",
                    "seed",
                    "low",
                    "high",
                    "max_iter",
                    "tolerance_grad",
                    "device",
                    "dtype",
                )
            },
            "config_hash": config_hash("design"),
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*design_study.MODULES),
    script:
        "../scripts/stage.py"
