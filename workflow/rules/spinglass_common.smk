# Config lists and input/options functions of spinglass.smk: the spin-glass, inverse-Ising and
# Hamiltonian-design studies (snakemake --lint keeps functions out of rule files); included by it.
import dataclasses

from difftn.studies import design as design_study
from difftn.studies import inverse_ising as inverse_study
from difftn.studies import spinglass as spinglass_study

SG = config["spinglass"]
INV = config["inverse_ising"]
DESIGN = config["design"]


def spinglass_options(wildcards):
    """Options of a spin-glass point (wildcard chi) or of its exact reference."""
    options = {
        "L": int(wildcards.L),
        "seed": int(wildcards.seed),
        **{k: SG[k] for k in ("coupling_std", "field_std", "device", "dtype")},
        "config_hash": config_hash("spinglass"),
    }
    if hasattr(wildcards, "chi"):
        options.update(chi=int(wildcards.chi), cutoff=SG["cutoff"])
    return options


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
INV_FIT = {f.name: INV[f.name] for f in dataclasses.fields(inverse_study.FitSettings)}
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
    each at full rank (an upper bound: measured 0.49 GB at L = 32, chi = 128, whose ranks stay below 64).
    """
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


register_study(
    outputs=spinglass_final_output(),
    benchmarks=benchmark_records(
        [*spinglass_files(), *inverse_ising_files(), DESIGN_FILE]
    ),
)
