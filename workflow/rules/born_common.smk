# Config lists and input/options functions of born.smk, the MPS Born machine study (snakemake
# --lint keeps functions out of rule files); included by it.  The data-set helpers it shares
# with the positive PEPS (data_train_options, ...) are in common.smk.

BORN = config["born"]
BORN_DATA = [name for name in born_study.DATASETS if BORN[name]["max_bond"]]


def born_train_options(wildcards):
    """A data set's own settings (shape, threshold, split) and training options at one D_max."""
    return data_train_options("born", wildcards, "max_bond")


def born_sample_options(wildcards):
    return data_sample_options("born", wildcards)


def born_models(wildcards):
    return expand(
        "results/born/{data}/Dmax{D}/model.nc",
        data=wildcards.data,
        D=BORN[wildcards.data]["max_bond"],
    )


def born_figure_samples(wildcards):
    """Samples of the largest D_max of the data set."""
    D = max(BORN[wildcards.data]["max_bond"])
    return f"results/born/{wildcards.data}/Dmax{D}/samples.nc"


def born_outputs():
    """Tables and sample figures of each data set with a D_max list; NLL figure."""
    files = [
        *expand("results/born/{data}/summary.{ext}", data=BORN_DATA, ext=["nc", "csv"]),
        *expand(
            "results/figures/born_samples_{data}.{ext}",
            data=BORN_DATA,
            ext=["png", "pdf"],
        ),
    ]
    if BORN_DATA:
        files += expand("results/figures/born_nll.{ext}", ext=["png", "pdf"])
    return files


def born_benchmark_files():
    files = []
    for data in BORN_DATA:
        bonds = BORN[data]["max_bond"]
        files += [f"results/benchmarks/born/{data}/Dmax{D}/train.tsv" for D in bonds]
        files.append(f"results/benchmarks/born/{data}/Dmax{max(bonds)}/sample.tsv")
    return files


register_study(outputs=born_outputs(), benchmarks=born_benchmark_files())
