# Config lists and input/options functions of ppeps.smk, the positive-PEPS study (snakemake
# --lint keeps functions out of rule files); included by it.  The data-set helpers it shares
# with the Born machine (data_train_options, ...) are in common.smk.
from difftn.studies import ppeps as ppeps_study

PPEPS = config["ppeps"]
PPEPS_DATA = [name for name in ppeps_study.DATASETS if PPEPS[name]["D"]]
PPEPS_SOURCE = source_hash(*ppeps_study.MODULES)
PPEPS_BORN = config[
    "born"
]  # the Born machine it is compared with (read here: no include order)


def _check_ppeps_config():
    """The positive PEPS is compared with the Born machine on the same data: same settings."""
    for name in PPEPS_DATA:
        if not PPEPS_BORN[name]["max_bond"]:
            continue
        for key, value in PPEPS_BORN[name].items():
            if key in PPEPS[name] and key != "train" and PPEPS[name][key] != value:
                raise ValueError(
                    f"config field ppeps.{name}.{key}: must equal born.{name}.{key} ({value}), the Born "
                    f"machine it is compared with, got {PPEPS[name][key]}"
                )


_check_ppeps_config()


def ppeps_train_options(wildcards):
    """A data set's settings, chi and training options at bond D; the resumable state beside the model.

    The state file's name holds a hash of the options and the library source, so
    a killed job resumes its own state and a job with other settings or code
    starts afresh (``train`` refuses a state of other options and would resume
    one of other data settings or code).
    """
    options = {**data_train_options("ppeps", wildcards, "D"), "chi": int(wildcards.chi)}
    key = json.dumps([options, PPEPS_SOURCE, FORMAT_VERSION], sort_keys=True)
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    return {
        **options,
        "checkpoint": f"{ppeps_dir(wildcards)}/state-{tag}.pt",
    }


def ppeps_dir(wildcards):
    return f"results/ppeps/{wildcards.data}/D{wildcards.D}_chi{wildcards.chi}"


def ppeps_sample_options(wildcards):
    return data_sample_options("ppeps", wildcards)


def ppeps_models(wildcards):
    """One model per (D, chi) of the data set."""
    return expand(
        "results/ppeps/{data}/D{D}_chi{chi}/model.nc",
        data=wildcards.data,
        D=PPEPS[wildcards.data]["D"],
        chi=PPEPS[wildcards.data]["chi"],
    )


def ppeps_figure_samples(wildcards):
    """Samples of the largest D at the largest chi of the data set."""
    section = PPEPS[wildcards.data]
    return f"results/ppeps/{wildcards.data}/D{max(section['D'])}_chi{max(section['chi'])}/samples.nc"


def ppeps_born_summaries():
    """The Born machine's tables of the data sets both studies train on (drawn beside the PEPS)."""
    return [
        f"results/born/{data}/summary.nc"
        for data in PPEPS_DATA
        if PPEPS_BORN[data]["max_bond"]
    ]


def ppeps_outputs():
    """Tables and sample figures of each data set with a D list; NLL figure."""
    files = [
        *expand(
            "results/ppeps/{data}/summary.{ext}", data=PPEPS_DATA, ext=["nc", "csv"]
        ),
        *expand(
            "results/figures/ppeps_samples_{data}.{ext}",
            data=PPEPS_DATA,
            ext=["png", "pdf"],
        ),
    ]
    if PPEPS_DATA:
        files += expand("results/figures/ppeps_nll.{ext}", ext=["png", "pdf"])
    return files


def ppeps_benchmark_files():
    files = []
    for data in PPEPS_DATA:
        bonds, chis = PPEPS[data]["D"], PPEPS[data]["chi"]
        files += expand(
            "results/benchmarks/ppeps/{data}/D{D}_chi{chi}/train.tsv",
            data=data,
            D=bonds,
            chi=chis,
        )
        files.append(
            f"results/benchmarks/ppeps/{data}/D{max(bonds)}_chi{max(chis)}/sample.tsv"
        )
    return files


register_study(outputs=ppeps_outputs(), benchmarks=ppeps_benchmark_files())
