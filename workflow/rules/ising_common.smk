# Config lists and input/options functions of ising.smk, the 2D Ising study (snakemake --lint
# keeps functions out of rule files); included by it.
from difftn.studies import ising as ising_study

ISING = config["ising"]


def _check_ising_config():
    """Checks JSON schema cannot express; stop before any job with the field named."""
    for i, r in enumerate(ISING["beta"]):
        if r["start"] > r["stop"]:
            raise ValueError(
                f"config field ising.beta[{i}]: start ({r['start']}) must not exceed stop ({r['stop']})"
            )
        if r["num"] > 1 and r["start"] == r["stop"]:
            raise ValueError(
                f"config field ising.beta[{i}]: start == stop needs num == 1, got num = {r['num']}"
            )


_check_ising_config()

BETAS = ising_study.beta_grid(ISING["beta"], BETA_DECIMALS)
ISING_DIRS = [f"chi{chi}_steps{ISING['steps']}" for chi in ISING["chi"]]


def ising_options(wildcards):
    section = config["ising"]
    return {
        "beta": float(wildcards.beta),
        "chi": int(wildcards.chi),
        "steps": int(wildcards.steps),
        **{k: section[k] for k in ("checkpoint", "symmetry", "device", "dtype")},
        "config_hash": config_hash("ising"),
    }


def ising_points(wildcards):
    return expand(
        "results/ising/chi{chi}_steps{steps}/beta_{beta}.nc",
        chi=wildcards.chi,
        steps=wildcards.steps,
        beta=[ising_study.format_beta(b, BETA_DECIMALS) for b in BETAS],
    )


register_study(
    outputs=[
        *expand("results/ising/{run}/summary.{ext}", run=ISING_DIRS, ext=["nc", "csv"]),
        *expand("results/figures/ising_fig3.{ext}", ext=["png", "pdf"]),
    ],
    benchmarks=benchmark_records(
        expand(
            "results/ising/{run}/beta_{beta}.nc",
            run=ISING_DIRS,
            beta=[ising_study.format_beta(b, BETA_DECIMALS) for b in BETAS],
        )
    ),
)
