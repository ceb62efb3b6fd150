# Spin-glass studies (issue 5): boundary MPS + AD per (L, seed, chi) against an
# exact transfer-matrix reference; inverse Ising per number of samples N;
# Hamiltonian design of a TFIM chain (one point).  Threads per job come from
# each section: these are tiny matrices, for which one torch thread is fastest
# (2 threads were 4x slower on a loaded 2-core machine).


import dataclasses

from difftn.studies import design as design_study
from difftn.studies import inverse_ising as inverse_study
from difftn.studies import spinglass as spinglass_study

SG = config["spinglass"]
INV = config["inverse_ising"]
DESIGN = config["design"]
# Cross-field checks the JSON schema cannot express; stop before any job with the field named.
if INV["L"] ** 2 > 20:
    raise ValueError(
        f"config field inverse_ising.L: L*L must be <= 20 (exact moments), got L = {INV['L']}"
    )
if DESIGN["low"] > DESIGN["high"]:
    raise ValueError(
        f"config field design.low: must not exceed design.high ({DESIGN['low']} > {DESIGN['high']})"
    )

# the options every spin-glass point and exact reference shares
SG_OPTIONS = {k: SG[k] for k in ("coupling_std", "field_std", "device", "dtype")}
# MB for a boundary-MPS point: the backward keeps 2 L^2 SVDs of (4 chi) x (2 chi), ~200 chi^2
# bytes each at full rank (an upper bound: measured 0.49 GB at L = 32, chi = 128, whose ranks
# stay below 64)
SG_MEM_MB = {
    (L, chi): 1000 + L * L * min(chi, 2 ** (L // 2)) ** 2 // 2500
    for L in SG["L"]
    for chi in SG["chi"]
}
# every point file and the exact reference of every L <= exact_max_L
SG_FILES = expand(
    "results/spinglass/L{L}_seed{seed}/chi{chi}.nc",
    L=SG["L"],
    seed=SG["seeds"],
    chi=SG["chi"],
) + expand(
    "results/spinglass/L{L}_seed{seed}/exact.nc",
    L=[L for L in SG["L"] if L <= SG["exact_max_L"]],
    seed=SG["seeds"],
)
# the points of the smallest L and first seed, with its exact reference if there is one
SG_FIGURE_FILES = expand(
    "results/spinglass/L{L}_seed{seed}/chi{chi}.nc",
    L=min(SG["L"]),
    seed=SG["seeds"][0],
    chi=SG["chi"],
) + (
    [f"results/spinglass/L{min(SG['L'])}_seed{SG['seeds'][0]}/exact.nc"]
    if min(SG["L"]) <= SG["exact_max_L"]
    else []
)
INV_TAG = f"L{INV['L']}_seed{INV['seed']}"
INV_FIT = {f.name: INV[f.name] for f in dataclasses.fields(inverse_study.FitSettings)}
INV_FILES = [f"results/inverse_ising/{INV_TAG}/exact.nc"] + expand(
    "results/inverse_ising/{tag}/N{N}.nc", tag=INV_TAG, N=INV["N"]
)
DESIGN_FILE = f"results/design/sites{DESIGN['sites']}_seed{DESIGN['seed']}.nc"

register_study(
    outputs=[
        *expand("results/spinglass/summary.{ext}", ext=["nc", "csv"]),
        *expand(
            "results/figures/spinglass_{name}.{ext}",
            name=["convergence", "correlations"],
            ext=["png", "pdf"],
        ),
        *expand(
            "results/inverse_ising/{tag}/summary.{ext}", tag=INV_TAG, ext=["nc", "csv"]
        ),
        *expand("results/figures/inverse_ising_recovery.{ext}", ext=["png", "pdf"]),
        DESIGN_FILE,
    ],
    benchmarks=benchmark_records([*SG_FILES, *INV_FILES, DESIGN_FILE]),
)


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
        mem_mb=lambda wildcards: SG_MEM_MB[int(wildcards.L), int(wildcards.chi)],
        runtime=60,
    params:
        stage="spinglass point",
        options=lambda wildcards: {
            "L": int(wildcards.L),
            "seed": int(wildcards.seed),
            **SG_OPTIONS,
            "config_hash": config_hash("spinglass"),
            "chi": int(wildcards.chi),
            "cutoff": SG["cutoff"],
        },
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
        options=lambda wildcards: {
            "L": int(wildcards.L),
            "seed": int(wildcards.seed),
            **SG_OPTIONS,
            "config_hash": config_hash("spinglass"),
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*spinglass_study.EXACT_MODULES),
    script:
        "../scripts/stage.py"


rule spinglass_aggregate:
    input:
        checked(SG_FILES),
    output:
        nc="results/spinglass/summary.nc",
        csv=report(
            "results/spinglass/summary.csv",
            caption=REPORT_CAPTION,
            category="Spin glass",
        ),
    log:
        "results/logs/spinglass/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="spinglass aggregate",
        format_version=FORMAT_VERSION,
        caption=report_caption(
            "Spin-glass table over (L, seed, chi): ln Z, its error against the reference, the "
            "largest bond-correlation error, the discarded weight, wall time."
        ),
    script:
        "../scripts/stage.py"


rule spinglass_convergence_figure:
    input:
        checked("results/spinglass/summary.nc"),
    output:
        png=report(
            "results/figures/spinglass_convergence.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            f"Gaussian spin glass (couplings K_ij ~ N(0, {SG['coupling_std']}^2)) on open L x L "
            "lattices: ln Z by a differentiable boundary-MPS contraction with cutoff chi, and "
            "every nearest-neighbour correlation <s_i s_j> = d lnZ/dK_ij from one reverse-mode AD "
            "pass. (a) ln Z error per site, (b) largest correlation error, against chi; solid: "
            f"against the exact transfer matrix (L <= {SG['exact_max_L']}), dashed: against the "
            "largest chi."
        ),
    script:
        "../scripts/stage.py"


rule spinglass_correlations_figure:
    input:
        checked(SG_FIGURE_FILES),
    output:
        png=report(
            "results/figures/spinglass_correlations.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "Every nearest-neighbour correlation of one spin-glass instance (smallest L, first "
            "seed) by boundary MPS + AD against the reference (exact transfer matrix where "
            "available): (a) at the largest chi, (b) absolute error per bond for each chi."
        ),
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
        checked(INV_FILES),
    output:
        nc=f"results/inverse_ising/{INV_TAG}/summary.nc",
        csv=report(
            f"results/inverse_ising/{INV_TAG}/summary.csv",
            caption=REPORT_CAPTION,
            category="Spin glass",
        ),
    log:
        f"results/logs/inverse_ising/{INV_TAG}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="inverse-ising aggregate",
        format_version=FORMAT_VERSION,
        caption=report_caption(
            "Inverse Ising: rms and max coupling errors against the number of samples N, the "
            "Cramer-Rao prediction, and the error of the fit to the exact moments."
        ),
    script:
        "../scripts/stage.py"


rule inverse_ising_figure:
    input:
        checked(f"results/inverse_ising/{INV_TAG}/summary.nc"),
    output:
        png=report(
            "results/figures/inverse_ising_recovery.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            f"Inverse Ising on a {INV['L']} x {INV['L']} lattice: couplings recovered by L-BFGS on "
            f"the convex ln Z(K) - K.C, C from N exact samples ({INV['repeats']} sample sets per "
            "N). Dashed: Cramer-Rao prediction from the Fisher information d2 lnZ/dK dK "
            "(second-order AD); dotted: 1/sqrt(N) guide. The legend gives the error of the fit to "
            "the exact moments and the fitted log-log slope."
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
