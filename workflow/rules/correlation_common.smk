# Config lists and input/options functions of correlation.smk (snakemake --lint keeps functions
# out of rule files); included by it.
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


# the published states are measured with the Heisenberg study's GPU settings
correlation_gpu, correlation_gpu_model = gpu_resources(config["heisenberg"])


def published_state_input(wildcards):
    return packaged_state(wildcards.D)


def correlation_hash(part):
    """Hash of the settings one part's points share (not their own chi, beta, D: another list reruns none)."""
    shared = {k: v for k, v in XI[part].items() if k not in ("chi", "beta", "D")}
    text = json.dumps(
        {part: shared, "device": XI["device"], "dtype": XI["dtype"]}, sort_keys=True
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


register_study(
    outputs=correlation_final_output(), benchmarks=correlation_benchmark_files()
)
