# Correlation lengths from the CTMRG column transfer matrix: Ising xi(beta) beside the exact
# value (one `difftn ising xi` job per chi and beta), and xi against chi of the published C4v
# iPEPS states shipped with difftn (one `difftn heisenberg measure` job per D and chi).


from difftn.studies import correlation as correlation_study
from difftn.studies import heisenberg as heisenberg_study
from difftn.studies import ising as ising_study

XI = config["correlation"]
try:  # beta values and file names with ising.decimals digits (the beta wildcard's constraint)
    XI_BETAS = [
        ising_study.format_beta(b, BETA_DECIMALS)
        for b in ising_study.beta_grid(XI["ising"]["beta"], BETA_DECIMALS)
    ]
except ValueError as err:
    raise ValueError(f"config field correlation.ising.beta: {err}") from None
# Each part's point files (without .nc) and a hash of the settings its points share (not
# their own chi, beta, D: another list reruns none).
XI_POINTS = {
    "ising": expand(
        "ising_chi{chi}/beta_{beta}", chi=XI["ising"]["chi"], beta=XI_BETAS
    ),
    "heisenberg": expand(
        "heisenberg/D{D}_chi{chi}", chi=XI["heisenberg"]["chi"], D=XI["heisenberg"]["D"]
    ),
}
XI_HASH = {
    part: json_hash(
        {
            part: {k: v for k, v in XI[part].items() if k not in ("chi", "beta", "D")},
            "device": XI["device"],
            "dtype": XI["dtype"],
        }
    )
    for part in XI_POINTS
}
# the options every point of a part shares (its chi and beta come from the wildcards)
XI_OPTIONS = {
    part: {
        "ctm_tol": XI[part]["tol"],
        "ctm_max_iter": XI[part]["max_iter"],
        "device": XI["device"],
        "dtype": XI["dtype"],
        "config_hash": XI_HASH[part],
    }
    for part in XI_POINTS
}
# the published states are measured with the Heisenberg study's GPU settings
correlation_gpu, correlation_gpu_model = gpu_resources(config["heisenberg"])
# plots.correlation draws the exact Ising curve and the published iPEPS values (both figures import both)
CORRELATION_PLOT_MODULES = ("difftn.plots.common", "difftn.plots.correlation", "difftn.models.ising",
                            "difftn.data.reference")  # fmt: skip

register_study(
    outputs=[
        *expand("results/correlation/{part}/summary.{ext}", part=["ising", "heisenberg"], ext=["nc", "csv"]),
        *expand("results/figures/correlation_{part}.{ext}", part=["ising", "heisenberg"], ext=["png", "pdf"]),
    ],  # fmt: skip
    benchmarks=[
        f"results/benchmarks/correlation/{name}.tsv"
        for part in ("ising", "heisenberg")
        for name in XI_POINTS[part]
    ],
)


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
        options=lambda wildcards: {
            "beta": float(wildcards.beta),
            "chi": int(wildcards.chi),
            **XI_OPTIONS["ising"],
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*ising_study.XI_MODULES),
    script:
        "../scripts/stage.py"


rule correlation_heisenberg_measure:
    input:
        state=lambda wildcards: packaged_state(wildcards.D),
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
        options=lambda wildcards: {
            "chi": int(wildcards.chi),
            **XI_OPTIONS["heisenberg"],
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MEASURE_MODULES),
    script:
        "../scripts/stage.py"


rule correlation_aggregate:
    input:
        checked(
            lambda wildcards: [
                f"results/correlation/{name}.nc" for name in XI_POINTS[wildcards.part]
            ]
        ),
    output:
        nc="results/correlation/{part}/summary.nc",
        csv=report(
            "results/correlation/{part}/summary.csv",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "Correlation-length table: for the 2D Ising model, xi = -1/ln|lambda_1/lambda_0| of "
            "the CTMRG column transfer matrix per (chi, beta) beside the exact value (McCoy & Wu) "
            "and the relative error; for the published C4v iPEPS states (Hasik, Poilblanc, Becca "
            "2021), energy, magnetization, xi and ``|lambda_i/lambda_0|`` (i = 0..5) per (D, chi)."
        ),
    script:
        "../scripts/stage.py"


rule correlation_ising_figure:
    input:
        checked("results/correlation/ising/summary.nc"),
    output:
        png=report(
            "results/figures/correlation_ising.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "Correlation length of the 2D Ising model: (a) xi = -1/ln|lambda_1/lambda_0| of the "
            "CTMRG column transfer matrix (environment started from up spins: the symmetry-broken "
            f"phase below T_c) at chi = {', '.join(map(str, XI['ising']['chi']))} over the exact curve (McCoy & Wu) on "
            "both sides of beta_c (dotted); (b) relative deviation from exact. A finite chi "
            "resolves the continuum above lambda_1 as discrete levels, so xi approaches the exact "
            "value from below."
        ),
    script:
        "../scripts/stage.py"


rule correlation_heisenberg_figure:
    input:
        checked("results/correlation/heisenberg/summary.nc"),
    output:
        png=report(
            "results/figures/correlation_heisenberg.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "Correlation length xi = -1/ln|lambda_1/lambda_0| of the column transfer matrix of "
            "the published single-site C4v iPEPS states of the Heisenberg model (Hasik, "
            f"Poilblanc, Becca, SciPost Phys. 10, 012 (2021); D = {', '.join(map(str, XI['heisenberg']['D']))}) against "
            "1/chi: ours (filled, joined) beside the values listed with the states (open "
            "squares)."
        ),
    script:
        "../scripts/stage.py"
