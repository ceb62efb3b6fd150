# Correlation lengths from the CTMRG column transfer matrix: Ising xi(beta) beside the exact
# value (one `difftn ising xi` job per chi and beta), and xi against chi of the published C4v
# iPEPS states shipped with difftn (one `difftn heisenberg measure` job per D and chi).
from difftn.data.reference import published_state_path
from difftn.studies import correlation as correlation_study

XI = config["correlation"]
try:  # beta values and file names with ising.decimals digits (the beta wildcard's constraint)
    XI_BETAS = [
        ising_study.format_beta(b, BETA_DECIMALS)
        for b in ising_study.beta_grid(XI["ising"]["beta"], BETA_DECIMALS)
    ]
except ValueError as err:
    raise ValueError(f"config field correlation.ising.beta: {err}") from None


def correlation_hash(part):
    """Hash of what one part's points depend on: its subsection, device and dtype."""
    text = json.dumps(
        {part: XI[part], "device": XI["device"], "dtype": XI["dtype"]}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def correlation_options(part, chi):
    section = XI[part]
    return {
        "chi": int(chi),
        "ctm_tol": section["tol"],
        "ctm_max_iter": section["max_iter"],
        "device": XI["device"],
        "dtype": XI["dtype"],
        "config_hash": correlation_hash(part),
    }


def correlation_ising_options(wildcards):
    return {
        "beta": float(wildcards.beta),
        **correlation_options("ising", wildcards.chi),
    }


def correlation_heisenberg_options(wildcards):
    return correlation_options("heisenberg", wildcards.chi)


# plots.correlation draws the exact Ising curve and the published iPEPS values (both figures import both)
CORRELATION_PLOT_MODULES = ("difftn.plots.common", "difftn.plots.correlation", "difftn.models.ising",
                            "difftn.data.reference")  # fmt: skip


def correlation_files(part):
    if part == "ising":
        pattern, values = "ising_chi{chi}/beta_{beta}", {"beta": XI_BETAS}
    else:
        pattern, values = "heisenberg/D{D}_chi{chi}", {"D": XI["heisenberg"]["D"]}
    return expand(pattern, chi=XI[part]["chi"], **values)


def correlation_final_output():
    return [
        *expand("results/correlation/{part}/summary.{ext}", part=["ising", "heisenberg"], ext=["nc", "csv"]),
        *expand("results/figures/correlation_{part}.{ext}", part=["ising", "heisenberg"], ext=["png", "pdf"]),
    ]  # fmt: skip


def correlation_benchmark_files():
    return [
        f"results/benchmarks/correlation/{name}.tsv"
        for part in ("ising", "heisenberg")
        for name in correlation_files(part)
    ]


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
        state=lambda wildcards: str(published_state_path(int(wildcards.D))),
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
        gpu=heisenberg_gpu,
        gpu_model=heisenberg_gpu_model,
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
