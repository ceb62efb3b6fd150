# J1-J2 sweep (issue 13): at each J2/J1 of the config, the Heisenberg optimize and
# measure stages with --J2 (D chained from the previous D of the same J2),
# measured at the optimization chi and measure_chi; one table over (J2, D) beside
# the published C4v states, one figure.


from difftn.studies import heisenberg as heisenberg_study
from difftn.studies import j1j2 as j1j2_study

J1J2 = config["j1j2"]
# Checks the JSON schema cannot express; stop before any job with the field named.
check_config(per_D_length_problems("j1j2"))
J1J2_POINTS = {}  # path form of each J2 -> its config value
for i, J2 in enumerate(J1J2["J2"]):
    try:
        J1J2_POINTS[j1j2_study.format_J2(J2)] = J2
    except ValueError as err:
        raise ValueError(f"config field j1j2.J2[{i}]: {err}") from None
del i, J2  # the rule files share one namespace: no loop variable is left in it

J1J2_CHI = dict(zip(J1J2["D"], J1J2["chi"]))
J1J2_MEASURE_CHIS = per_D_measure_chis("j1j2")
# result folder of each (J2 in its path form, D)
J1J2_DIR = {
    (J2, D): f"results/j1j2/J2_{J2}/D{D}_chi{J1J2_CHI[D]}"
    for J2 in J1J2_POINTS
    for D in J1J2["D"]
}
# the start of each (J2, D): the previous D's state of the same J2 when chaining, else nothing
J1J2_INIT = {
    (J2, D): (
        {"init": f"{J1J2_DIR[J2, J1J2['D'][i - 1]]}/state.nc"}
        if J1J2["init"] == "chain" and i > 0
        else {}
    )
    for J2 in J1J2_POINTS
    for i, D in enumerate(J1J2["D"])
}
j1j2_gpu, j1j2_gpu_model = gpu_resources(J1J2)

register_study(
    outputs=[
        *expand("results/j1j2/summary.{ext}", ext=["nc", "csv"]),
        *expand("results/figures/j1j2_energy.{ext}", ext=["png", "pdf"]),
    ],
    benchmarks=[
        f"results/benchmarks/j1j2/J2_{J2}/D{D}_chi{J1J2_CHI[D]}/{name}.tsv"
        for J2 in J1J2_POINTS
        for D in J1J2["D"]
        for name in ["optimize", *(f"measure_chi{chi}" for chi in J1J2_MEASURE_CHIS[D])]
    ],
)


wildcard_constraints:
    J2=r"-?\d+\.\d+",


rule j1j2_optimize:
    input:
        unpack(checked(lambda wildcards: J1J2_INIT[wildcards.J2, int(wildcards.D)])),
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
        options=lambda wildcards: {
            "D": int(wildcards.D),
            "chi": int(wildcards.chi),
            "J2": J1J2_POINTS[wildcards.J2],
            "seed": J1J2["seed"],
            "noise": J1J2["noise"],
            "max_iter": J1J2["lbfgs"].get("max_iter"),
            "history_size": J1J2["lbfgs"].get("history_size"),
            "tol_grad": J1J2["lbfgs"].get("tolerance_grad"),
            "grad_mode": J1J2["ctmrg"].get("grad_mode"),
            "ctm_tol": J1J2["ctmrg"].get("tol"),
            "ctm_max_iter": J1J2["ctmrg"].get("max_iter"),
            "checkpoint": f"results/j1j2/J2_{wildcards.J2}/D{wildcards.D}_chi{wildcards.chi}/progress.nc",
            "save_every": J1J2.get("save_every"),
            "device": J1J2["device"],
            "dtype": J1J2["dtype"],
            "config_hash": config_hash("j1j2"),
        },
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
        options=lambda wildcards: {
            "chi": int(wildcards.mchi),
            "J2": J1J2_POINTS[wildcards.J2],
            "ctm_tol": J1J2["ctmrg"].get("tol"),
            "device": J1J2["device"],
            "dtype": J1J2["dtype"],
            "config_hash": config_hash("j1j2"),
        },
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*heisenberg_study.MEASURE_MODULES),
    script:
        "../scripts/stage.py"


rule j1j2_aggregate:
    input:
        # every measurement file of the sweep: each J2, each D, each measurement chi
        checked(
            [
                f"{J1J2_DIR[J2, D]}/observables_chi{chi}.nc"
                for J2 in J1J2_POINTS
                for D in J1J2["D"]
                for chi in J1J2_MEASURE_CHIS[D]
            ]
        ),
    output:
        nc="results/j1j2/summary.nc",
        csv=report(
            "results/j1j2/summary.csv",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "J1-J2 model, single-site C4v iPEPS per J2/J1 and bond dimension D: energy per site "
            "and staggered magnetization at the largest measurement chi (and the energy at the "
            "optimization chi), beside the published C4v states of Hasik, Poilblanc, Becca, "
            "SciPost Phys. 10, 012 (2021) where one exists (J2/J1 = 0 and 0.5; NaN elsewhere)."
        ),
    script:
        "../scripts/stage.py"


rule j1j2_figure:
    input:
        checked("results/j1j2/summary.nc"),
    output:
        png=report(
            "results/figures/j1j2_energy.png",
            caption=REPORT_CAPTION,
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
        caption=report_caption(
            "J1-J2 Heisenberg model on the square lattice, single-site C4v iPEPS optimized by "
            "L-BFGS with gradients from automatic differentiation through CTMRG, one line per "
            "bond dimension D. (a) Energy per site and (b) staggered magnetization against "
            "J2/J1; open squares: published C4v states (Hasik, Poilblanc, Becca, SciPost Phys. "
            "10, 012 (2021), largest listed chi). (c) Our energy minus the published one where "
            "one exists."
        ),
    script:
        "../scripts/stage.py"
