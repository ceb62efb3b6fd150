# Config lists and input/options functions of j1j2.smk, the J1-J2 sweep (snakemake --lint keeps
# functions out of rule files); included by it.
from difftn.studies import heisenberg as heisenberg_study
from difftn.studies import j1j2 as j1j2_study

J1J2 = config["j1j2"]
J1J2_CHI = dict(zip(J1J2["D"], J1J2["chi"]))
J1J2_MEASURE_CHI = dict(zip(J1J2["D"], J1J2["measure_chi"]))


def _j1j2_points():
    """Path form of each J2 -> its config value; config fields named when one does not fit."""
    for key in ("chi", "measure_chi"):
        if len(J1J2[key]) != len(J1J2["D"]):
            raise ValueError(
                f"config field j1j2.{key}: needs one entry per D ({len(J1J2['D'])}), got {len(J1J2[key])}"
            )
    points = {}
    for i, J2 in enumerate(J1J2["J2"]):
        try:
            points[j1j2_study.format_J2(J2)] = J2
        except ValueError as err:
            raise ValueError(f"config field j1j2.J2[{i}]: {err}") from None
    return points


J1J2_POINTS = _j1j2_points()


wildcard_constraints:
    J2=r"-?\d+\.\d+",


def j1j2_dir(J2, D):
    """Result folder of one (J2, D) point (J2 in its path form)."""
    return f"results/j1j2/J2_{J2}/D{D}_chi{J1J2_CHI[int(D)]}"


def j1j2_init(wildcards):
    """The previous D's state of the same J2 when chaining, else nothing."""
    order = J1J2["D"]
    i = order.index(int(wildcards.D))
    if J1J2["init"] == "chain" and i > 0:
        return {"init": f"{j1j2_dir(wildcards.J2, order[i - 1])}/state.nc"}
    return {}


def j1j2_optimize_options(wildcards):
    """Options of `difftn heisenberg optimize` at one (J2, D): the j1j2 section's settings."""
    lbfgs, ctm = J1J2["lbfgs"], J1J2["ctmrg"]
    return {
        "D": int(wildcards.D),
        "chi": int(wildcards.chi),
        "J2": J1J2_POINTS[wildcards.J2],
        "seed": J1J2["seed"],
        "noise": J1J2["noise"],
        "max_iter": lbfgs.get("max_iter"),
        "history_size": lbfgs.get("history_size"),
        "tol_grad": lbfgs.get("tolerance_grad"),
        "grad_mode": ctm.get("grad_mode"),
        "ctm_tol": ctm.get("tol"),
        "ctm_max_iter": ctm.get("max_iter"),
        "checkpoint": f"results/j1j2/J2_{wildcards.J2}/D{wildcards.D}_chi{wildcards.chi}/progress.nc",
        "save_every": J1J2.get("save_every"),
        "device": J1J2["device"],
        "dtype": J1J2["dtype"],
        "config_hash": config_hash("j1j2"),
    }


def j1j2_measure_options(wildcards):
    return {
        "chi": int(wildcards.mchi),
        "J2": J1J2_POINTS[wildcards.J2],
        "ctm_tol": J1J2["ctmrg"].get("tol"),
        "device": J1J2["device"],
        "dtype": J1J2["dtype"],
        "config_hash": config_hash("j1j2"),
    }


def j1j2_measure_chis(D):
    return [J1J2_CHI[D]] + ([J1J2_MEASURE_CHI[D]] if J1J2_MEASURE_CHI[D] else [])


def j1j2_observables(wildcards=None):
    """Every measurement file of the sweep: each J2, each D, each measurement chi."""
    return [
        f"{j1j2_dir(J2, D)}/observables_chi{chi}.nc"
        for J2 in J1J2_POINTS
        for D in J1J2["D"]
        for chi in j1j2_measure_chis(D)
    ]


j1j2_gpu, j1j2_gpu_model = gpu_resources(J1J2)


def j1j2_outputs():
    return [
        *expand("results/j1j2/summary.{ext}", ext=["nc", "csv"]),
        *expand("results/figures/j1j2_energy.{ext}", ext=["png", "pdf"]),
    ]


def j1j2_benchmark_files():
    files = []
    for J2 in J1J2_POINTS:
        for D in J1J2["D"]:
            run = f"results/benchmarks/j1j2/J2_{J2}/D{D}_chi{J1J2_CHI[D]}"
            files.append(f"{run}/optimize.tsv")
            files += [f"{run}/measure_chi{chi}.tsv" for chi in j1j2_measure_chis(D)]
    return files


register_study(outputs=j1j2_outputs(), benchmarks=j1j2_benchmark_files())
