# Shared by all rules: config validation, derived parameter lists, input functions.
import hashlib
import json

from snakemake.utils import validate

from difftn.provenance import source_hash
from difftn.studies import heisenberg as heisenberg_study
from difftn.studies import ising as ising_study


validate(config, "../schemas/config.schema.yaml")


def _check_config():
    """Checks JSON schema cannot express; stop before any job with the field named."""
    for i, r in enumerate(config["ising"]["beta"]):
        if r["start"] > r["stop"]:
            raise ValueError(
                f"config field ising.beta[{i}]: start ({r['start']}) must not exceed stop ({r['stop']})"
            )
        if r["num"] > 1 and r["start"] == r["stop"]:
            raise ValueError(
                f"config field ising.beta[{i}]: start == stop needs num == 1, got num = {r['num']}"
            )


    h = config["heisenberg"]
    for key in ("chi", "measure_chi"):
        if len(h[key]) != len(h["D"]):
            raise ValueError(
                f"config field heisenberg.{key}: needs one entry per D ({len(h['D'])}), got {len(h[key])}"
            )


_check_config()

BETA_DECIMALS = config["ising"]["decimals"]
BETAS = ising_study.beta_grid(config["ising"]["beta"], BETA_DECIMALS)
ISING_DIRS = [f"chi{chi}_steps{config['ising']['steps']}" for chi in config["ising"]["chi"]]


def config_hash(section):
    """Hash of one config section, recorded in every result it produces."""
    text = json.dumps(config[section], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


wildcard_constraints:
    chi=r"\d+",
    steps=r"\d+",
    beta=r"\d+\.\d{%d}" % BETA_DECIMALS,
    D=r"\d+",
    mchi=r"\d+",
    L=r"\d+",
    seed=r"\d+",
    N=r"\d+",
    sites=r"\d+",


def ising_points(wildcards):
    return expand(
        "results/ising/chi{chi}_steps{steps}/beta_{beta}.nc",
        chi=wildcards.chi,
        steps=wildcards.steps,
        beta=[ising_study.format_beta(b, BETA_DECIMALS) for b in BETAS],
    )


HEIS = config["heisenberg"]
HEIS_CHI = dict(zip(HEIS["D"], HEIS["chi"]))
HEIS_MEASURE_CHI = dict(zip(HEIS["D"], HEIS["measure_chi"]))


def heisenberg_dir(D):
    return f"results/heisenberg/D{D}_chi{HEIS_CHI[int(D)]}"


def heisenberg_init(wildcards):
    """The previous D's state when chaining, else nothing."""
    order = HEIS["D"]
    i = order.index(int(wildcards.D))
    if HEIS["init"] == "chain" and i > 0:
        return {"init": f"{heisenberg_dir(order[i - 1])}/state.nc"}
    return {}


def heisenberg_observables(wildcards=None):
    files = []
    for D in HEIS["D"]:
        chis = [HEIS_CHI[D]] + ([HEIS_MEASURE_CHI[D]] if HEIS_MEASURE_CHI[D] else [])
        files += [f"{heisenberg_dir(D)}/observables_chi{chi}.nc" for chi in chis]
    return files


def heisenberg_gpu(wildcards):
    return 1 if int(wildcards.D) >= HEIS["gpu_from_D"] else 0


def get_final_output():
    return [
        *expand("results/ising/{run}/summary.{ext}", run=ISING_DIRS, ext=["nc", "csv"]),
        *expand("results/figures/ising_fig3.{ext}", ext=["png", "pdf"]),
        *expand("results/heisenberg/summary.{ext}", ext=["nc", "csv"]),
        *expand("results/figures/heisenberg_fig4.{ext}", ext=["png", "pdf"]),
        *spinglass_final_output(),
    ]


# --------------------------------------------------------------------------
# Spin-glass studies (spinglass.smk)
from difftn.studies import design as design_study
from difftn.studies import inverse_ising as inverse_study
from difftn.studies import spinglass as spinglass_study

SG = config["spinglass"]
INV = config["inverse_ising"]
DESIGN = config["design"]


def _check_spinglass_config():
    """Cross-field checks of the spin-glass sections, naming the field."""
    if INV["L"] ** 2 > 20:
        raise ValueError(
            f"config field inverse_ising.L: L*L must be <= 20 (exact moments), got L = {INV['L']}"
        )
    if DESIGN["low"] > DESIGN["high"]:
        raise ValueError(
            f"config field design.low: must not exceed design.high ({DESIGN['low']} > {DESIGN['high']})"
        )


_check_spinglass_config()

INV_TAG = f"L{INV['L']}_seed{INV['seed']}"
INV_FIT = {
    key: INV[key]
    for key in (
        "L",
        "seed",
        "coupling_std",
        "method",
        "chi",
        "tolerance_grad",
        "max_iter",
        "device",
        "dtype",
    )
}
DESIGN_FILE = f"results/design/sites{DESIGN['sites']}_seed{DESIGN['seed']}.nc"


def spinglass_files(wildcards=None):
    """Every point file and the exact reference of every L <= exact_max_L."""
    files = expand(
        "results/spinglass/L{L}_seed{seed}/chi{chi}.nc",
        L=SG["L"],
        seed=SG["seeds"],
        chi=SG["chi"],
    )
    exact_L = [L for L in SG["L"] if L <= SG["exact_max_L"]]
    return files + expand(
        "results/spinglass/L{L}_seed{seed}/exact.nc", L=exact_L, seed=SG["seeds"]
    )


def spinglass_figure_files(wildcards=None):
    """Points of the smallest L and first seed, with its exact reference if there is one."""
    L, seed = min(SG["L"]), SG["seeds"][0]
    files = expand(
        "results/spinglass/L{L}_seed{seed}/chi{chi}.nc", L=L, seed=seed, chi=SG["chi"]
    )
    if L <= SG["exact_max_L"]:
        files.append(f"results/spinglass/L{L}_seed{seed}/exact.nc")
    return files


def spinglass_mem_mb(wildcards):
    """MB for a boundary-MPS point: the backward keeps 2 L^2 SVDs of (4 chi) x (2 chi), ~200 chi^2 bytes
    each at full rank (an upper bound: measured 0.49 GB at L = 32, chi = 128, whose ranks stay below 64)."""
    L, chi = int(wildcards.L), min(int(wildcards.chi), 2 ** (int(wildcards.L) // 2))
    return 1000 + L * L * chi * chi // 2500


def inverse_ising_files(wildcards=None):
    return [f"results/inverse_ising/{INV_TAG}/exact.nc"] + expand(
        "results/inverse_ising/{tag}/N{N}.nc", tag=INV_TAG, N=INV["N"]
    )


def spinglass_final_output():
    return [
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
    ]
