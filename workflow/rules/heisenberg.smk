# Heisenberg iPEPS study (paper Fig. 4): optimize per D (from the previous D's state, a
# published one or a random start: heisenberg.init), measure at the optimization chi and a
# larger one, aggregate.
from difftn.data.reference import PACKAGED_D
from difftn.studies import heisenberg as heisenberg_study

HEIS = config["heisenberg"]
# Checks the JSON schema cannot express; stop before any job with the field named.
check_config(per_D_length_problems("heisenberg"))
if HEIS.get("optimizer") == "newton" and HEIS["ctmrg"]["grad_mode"] == "fixed_point":
    raise ValueError(
        "config field heisenberg.optimizer: newton needs heisenberg.ctmrg.grad_mode checkpoint or unrolled "
        "(the fixed-point backward is not twice differentiable)"
    )

HEIS_CHI = dict(zip(HEIS["D"], HEIS["chi"]))
# Random starts per D (seeds seed, seed + 1, ...; the job keeps the lowest): 1 unless given.
HEIS_STARTS = dict(zip(HEIS["D"], HEIS.get("starts", [1] * len(HEIS["D"]))))
HEIS_DIR = {D: f"results/heisenberg/D{D}_chi{chi}" for D, chi in HEIS_CHI.items()}
HEIS_MEASURE_CHIS = per_D_measure_chis("heisenberg")
# The start of each D's optimization: {} (random) or {"init": file}. chain: the previous D's
# state of this study; published: the packaged published state at D - 1 where the package has
# it (D - 1 = 2..5), else the previous D's state as for chain; random: nothing.
HEIS_INIT = {}
for i, D in enumerate(HEIS["D"]):
    if HEIS["init"] == "published" and D - 1 in PACKAGED_D:
        HEIS_INIT[D] = {"init": packaged_state(D - 1)}
    elif HEIS["init"] in ("chain", "published") and i > 0:
        HEIS_INIT[D] = {"init": f"{HEIS_DIR[HEIS['D'][i - 1]]}/state.nc"}
    else:
        HEIS_INIT[D] = {}
del i, D  # the rule files share one namespace: no loop variable is left in it
heisenberg_gpu, heisenberg_gpu_model = gpu_resources(HEIS)

register_study(
    outputs=[
        *expand("results/heisenberg/summary.{ext}", ext=["nc", "csv"]),
        *expand("results/figures/heisenberg_fig4.{ext}", ext=["png", "pdf"]),
    ],
    benchmarks=[
        f"results/benchmarks/heisenberg/D{D}_chi{HEIS_CHI[D]}/{name}.tsv"
        for D in HEIS["D"]
        for name in ["optimize", *(f"measure_chi{chi}" for chi in HEIS_MEASURE_CHIS[D])]
    ],
)


rule heisenberg_optimize:
    input:
        unpack(checked(lambda wildcards: HEIS_INIT[int(wildcards.D)])),
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
        runtime=lambda wildcards: 600 * HEIS_STARTS[int(wildcards.D)],
        gpu=heisenberg_gpu,
        gpu_model=heisenberg_gpu_model,
    params:
        stage="heisenberg optimize",
        # progress.nc (progress.seedS.nc for several starts) survives a killed job (its declared
        # output is deleted) and is resumed
        options=lambda wildcards: {
            "D": int(wildcards.D),
            "chi": int(wildcards.chi),
            "seed": HEIS["seed"],
            "starts": HEIS_STARTS[int(wildcards.D)],
            "noise": HEIS["noise"],
            "J2": HEIS.get("J2", 0.0),
            "max_iter": HEIS["lbfgs"].get("max_iter"),
            "history_size": HEIS["lbfgs"].get("history_size"),
            "tol_grad": HEIS["lbfgs"].get("tolerance_grad"),
            "grad_mode": HEIS["ctmrg"].get("grad_mode"),
            "ctm_tol": HEIS["ctmrg"].get("tol"),
            "ctm_max_iter": HEIS["ctmrg"].get("max_iter"),
            "optimizer": HEIS.get("optimizer"),
            "saddle_escapes": HEIS.get("saddle_escapes"),
            "checkpoint": f"results/heisenberg/D{wildcards.D}_chi{wildcards.chi}/progress.nc",
            "save_every": HEIS.get("save_every"),
            "device": HEIS["device"],
            "dtype": HEIS["dtype"],
            "config_hash": config_hash("heisenberg"),
        },
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
        options=lambda wildcards: {
            "chi": int(wildcards.mchi),
            "J2": HEIS.get("J2", 0.0),
            "ctm_tol": HEIS["ctmrg"].get("tol"),
            "device": HEIS["device"],
            "dtype": HEIS["dtype"],
            "config_hash": config_hash("heisenberg"),
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MEASURE_MODULES),
    script:
        "../scripts/stage.py"


rule heisenberg_aggregate:
    input:
        checked(
            [
                f"{HEIS_DIR[D]}/observables_chi{chi}.nc"
                for D in HEIS["D"]
                for chi in HEIS_MEASURE_CHIS[D]
            ]
        ),
    output:
        nc="results/heisenberg/summary.nc",
        csv=report(
            "results/heisenberg/summary.csv",
            caption=REPORT_CAPTION,
            category="Heisenberg",
        ),
    log:
        "results/logs/heisenberg/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="heisenberg aggregate",
        format_version=FORMAT_VERSION,
        caption=report_caption(
            "Heisenberg iPEPS results per bond dimension D: energy per site, relative error "
            "against QMC, staggered magnetization, at the largest measurement chi."
        ),
    script:
        "../scripts/stage.py"


rule heisenberg_figure:
    input:
        checked("results/heisenberg/summary.nc"),
    output:
        png=report(
            "results/figures/heisenberg_fig4.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "Square-lattice spin-1/2 Heisenberg antiferromagnet, single-site C4v iPEPS optimized "
            "by L-BFGS with gradients from automatic differentiation through CTMRG. (a) Relative "
            "energy error against QMC (Sandvik 1997) versus bond dimension D, beside earlier "
            "variational results (Corboz 2016; Vanderstraeten et al. 2016; Liao et al. 2019, "
            "digitized). (b) Staggered magnetization versus D; dashed: QMC (Sandvik & Evertz 2010)."
        ),
    script:
        "../scripts/stage.py"
