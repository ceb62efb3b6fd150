# Config lists and input/options functions of heisenberg.smk, the Heisenberg iPEPS study
# (snakemake --lint keeps functions out of rule files); included by it.
from difftn.data.reference import PACKAGED_D
from difftn.studies import heisenberg as heisenberg_study

HEIS = config["heisenberg"]
HEIS_CHI = dict(zip(HEIS["D"], HEIS["chi"]))
HEIS_MEASURE_CHI = dict(zip(HEIS["D"], HEIS["measure_chi"]))


def _check_heisenberg_config():
    """Checks JSON schema cannot express; stop before any job with the field named."""
    for key in ("chi", "measure_chi"):
        if len(HEIS[key]) != len(HEIS["D"]):
            raise ValueError(
                f"config field heisenberg.{key}: needs one entry per D ({len(HEIS['D'])}), got {len(HEIS[key])}"
            )
    if (
        HEIS.get("optimizer") == "newton"
        and HEIS["ctmrg"]["grad_mode"] == "fixed_point"
    ):
        raise ValueError(
            "config field heisenberg.optimizer: newton needs heisenberg.ctmrg.grad_mode checkpoint or unrolled "
            "(the fixed-point backward is not twice differentiable)"
        )


_check_heisenberg_config()


def heisenberg_dir(D):
    return f"results/heisenberg/D{D}_chi{HEIS_CHI[int(D)]}"


def heisenberg_init(wildcards):
    """The start of D's optimization: {} (random) or {"init": file}.

    chain: the previous D's state of this study; published: the packaged
    published state at D - 1 where the package has it (D - 1 = 2..5), else
    the previous D's state as for chain; random: nothing.
    """
    order = HEIS["D"]
    D = int(wildcards.D)
    i = order.index(D)
    if HEIS["init"] == "published" and D - 1 in PACKAGED_D:
        return {"init": packaged_state(D - 1)}
    if HEIS["init"] in ("chain", "published") and i > 0:
        return {"init": f"{heisenberg_dir(order[i - 1])}/state.nc"}
    return {}


def heisenberg_observables(wildcards=None):
    files = []
    for D in HEIS["D"]:
        chis = [HEIS_CHI[D]] + ([HEIS_MEASURE_CHI[D]] if HEIS_MEASURE_CHI[D] else [])
        files += [f"{heisenberg_dir(D)}/observables_chi{chi}.nc" for chi in chis]
    return files


def heisenberg_optimize_options(wildcards):
    lbfgs, ctm = HEIS["lbfgs"], HEIS["ctmrg"]
    return {
        "D": int(wildcards.D),
        "chi": int(wildcards.chi),
        "seed": HEIS["seed"],
        "noise": HEIS["noise"],
        "J2": HEIS.get("J2", 0.0),
        "max_iter": lbfgs.get("max_iter"),
        "history_size": lbfgs.get("history_size"),
        "tol_grad": lbfgs.get("tolerance_grad"),
        "grad_mode": ctm.get("grad_mode"),
        "ctm_tol": ctm.get("tol"),
        "ctm_max_iter": ctm.get("max_iter"),
        "optimizer": HEIS.get("optimizer"),
        "checkpoint": f"results/heisenberg/D{wildcards.D}_chi{wildcards.chi}/progress.nc",
        "save_every": HEIS.get("save_every"),
        "device": HEIS["device"],
        "dtype": HEIS["dtype"],
        "config_hash": config_hash("heisenberg"),
    }


def heisenberg_measure_options(wildcards):
    return {
        "chi": int(wildcards.mchi),
        "J2": HEIS.get("J2", 0.0),
        "ctm_tol": HEIS["ctmrg"].get("tol"),
        "device": HEIS["device"],
        "dtype": HEIS["dtype"],
        "config_hash": config_hash("heisenberg"),
    }


heisenberg_gpu, heisenberg_gpu_model = gpu_resources(HEIS)


def heisenberg_benchmark_files():
    files = []
    for D in HEIS["D"]:
        run = f"results/benchmarks/heisenberg/D{D}_chi{HEIS_CHI[D]}"
        files.append(f"{run}/optimize.tsv")
        chis = [HEIS_CHI[D]] + ([HEIS_MEASURE_CHI[D]] if HEIS_MEASURE_CHI[D] else [])
        files += [f"{run}/measure_chi{chi}.tsv" for chi in chis]
    return files


register_study(
    outputs=[
        *expand("results/heisenberg/summary.{ext}", ext=["nc", "csv"]),
        *expand("results/figures/heisenberg_fig4.{ext}", ext=["png", "pdf"]),
    ],
    benchmarks=heisenberg_benchmark_files(),
)
