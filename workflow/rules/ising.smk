# 2D Ising study (paper Fig. 3): one job per beta, then one table per (chi, steps).
from difftn.studies import ising as ising_study

ISING = config["ising"]
# Checks the JSON schema cannot express; stop before any job with the field named.
check_config(
    [
        (f"ising.beta[{i}]", f"start ({r['start']}) must not exceed stop ({r['stop']})")
        for i, r in enumerate(ISING["beta"])
        if r["start"] > r["stop"]
    ]
    + [
        (f"ising.beta[{i}]", f"start == stop needs num == 1, got num = {r['num']}")
        for i, r in enumerate(ISING["beta"])
        if r["num"] > 1 and r["start"] == r["stop"]
    ]
)

BETAS = ising_study.beta_grid(ISING["beta"], BETA_DECIMALS)
ISING_BETA_NAMES = [ising_study.format_beta(b, BETA_DECIMALS) for b in BETAS]
ISING_DIRS = [f"chi{chi}_steps{ISING['steps']}" for chi in ISING["chi"]]

register_study(
    outputs=[
        *expand("results/ising/{run}/summary.{ext}", run=ISING_DIRS, ext=["nc", "csv"]),
        *expand("results/figures/ising_fig3.{ext}", ext=["png", "pdf"]),
    ],
    benchmarks=benchmark_records(
        expand(
            "results/ising/{run}/beta_{beta}.nc", run=ISING_DIRS, beta=ISING_BETA_NAMES
        )
    ),
)


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
        options=lambda wildcards: {
            "beta": float(wildcards.beta),
            "chi": int(wildcards.chi),
            "steps": int(wildcards.steps),
            **{k: ISING[k] for k in ("checkpoint", "symmetry", "device", "dtype")},
            "config_hash": config_hash("ising"),
        },
        format_version=FORMAT_VERSION,
        # Reruns when the library code this stage uses changes.
        source_hash=source_hash(*ising_study.MODULES),
    script:
        "../scripts/stage.py"


rule ising_aggregate:
    input:
        checked(
            lambda wildcards: expand(
                "results/ising/chi{chi}_steps{steps}/beta_{beta}.nc",
                chi=wildcards.chi,
                steps=wildcards.steps,
                beta=ISING_BETA_NAMES,
            )
        ),
    output:
        nc="results/ising/chi{chi}_steps{steps}/summary.nc",
        csv=report(
            "results/ising/chi{chi}_steps{steps}/summary.csv",
            caption=REPORT_CAPTION,
            category="Ising",
        ),
    log:
        "results/logs/ising/chi{chi}_steps{steps}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ising aggregate",
        format_version=FORMAT_VERSION,
        caption=report_caption(
            "Ising study table, one row per β: ln Z, energy and specific heat per site by TRG + AD "
            "(χ and steps from the file name) beside Onsager's exact values, the largest discarded "
            "SVD weight, and each point's wall time and peak memory."
        ),
    script:
        "../scripts/stage.py"


rule ising_figure:
    input:
        checked(expand("results/ising/{run}/summary.nc", run=ISING_DIRS)),
    output:
        png=report(
            "results/figures/ising_fig3.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "Energy (a) and specific heat (b) per site of the 2D Ising model, from the first and "
            "second derivative of ln Z computed by reverse-mode automatic differentiation through "
            f"TRG (cutoff {', '.join(map(str, ISING['chi']))}, {ISING['steps']} steps), over Onsager's exact curves; "
            "(c) deviation from exact. Dotted: beta_c."
        ),
    script:
        "../scripts/stage.py"
