# Positive-PEPS study (p(x) = PEPS(x) / Z, the talk's "positive PEPS"): one job per
# data set x bond D x boundary-MPS chi, samples and inpainting from the largest D and
# chi, one table per data set over (chi, D); figures: NLL against the parameter count
# beside the MPS Born machine on the same data and split, samples and inpainting.


# The data-set helpers it shares with the Born machine (data_train_options, ...) are in
# common.smk.
from difftn.studies import ppeps as ppeps_study

PPEPS = config["ppeps"]
PPEPS_DATA = [name for name in ppeps_study.DATASETS if PPEPS[name]["D"]]
PPEPS_SOURCE = source_hash(*ppeps_study.MODULES)
# the Born machine it is compared with
PPEPS_BORN = config["born"]
# The positive PEPS is compared with the Born machine on the same data: same settings.
check_config(
    [
        (
            f"ppeps.{data}.{key}",
            f"must equal born.{data}.{key} ({value}), the Born machine it is compared with, "
            f"got {PPEPS[data][key]}",
        )
        for data in PPEPS_DATA
        if PPEPS_BORN[data]["max_bond"]
        for key, value in PPEPS_BORN[data].items()
        if key in PPEPS[data] and key != "train" and PPEPS[data][key] != value
    ]
)
# samples of the largest D at the largest chi of each data set (its sample figure)
PPEPS_FIGURE_SAMPLES = {
    data: f"results/ppeps/{data}/D{max(PPEPS[data]['D'])}_chi{max(PPEPS[data]['chi'])}/samples.nc"
    for data in PPEPS_DATA
}

register_study(
    # tables and sample figures of each data set with a D list; NLL figure
    outputs=[
        *expand(
            "results/ppeps/{data}/summary.{ext}", data=PPEPS_DATA, ext=["nc", "csv"]
        ),
        *expand(
            "results/figures/ppeps_samples_{data}.{ext}",
            data=PPEPS_DATA,
            ext=["png", "pdf"],
        ),
        *(
            expand("results/figures/ppeps_nll.{ext}", ext=["png", "pdf"])
            if PPEPS_DATA
            else []
        ),
    ],
    # per data set: each (D, chi)'s training, then the sampling of the largest
    benchmarks=[
        path
        for data in PPEPS_DATA
        for path in [
            *expand(
                "results/benchmarks/ppeps/{data}/D{D}_chi{chi}/train.tsv",
                data=data,
                D=PPEPS[data]["D"],
                chi=PPEPS[data]["chi"],
            ),
            f"results/benchmarks/ppeps/{data}/D{max(PPEPS[data]['D'])}_chi{max(PPEPS[data]['chi'])}/sample.tsv",
        ]
    ],
)


rule ppeps_train:
    output:
        "results/ppeps/{data}/D{D}_chi{chi}/model.nc",
    log:
        "results/logs/ppeps/{data}/D{D}_chi{chi}/train.log",
    benchmark:
        "results/benchmarks/ppeps/{data}/D{D}_chi{chi}/train.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: PPEPS["threads"]
    resources:
        mem_mb=2000,
        runtime=720,  # minutes; paper.yaml's digits at D = 4 (chi 16, 40 epochs) take hours
    params:
        stage="ppeps train",
        # A data set's settings, chi and training options at bond D; the resumable state
        # beside the model, its name a hash of the options and the library source, so that a
        # killed job resumes its own state and a job with other settings or code starts
        # afresh (train refuses a state of other options, but would resume one of other data
        # settings or code).
        options=lambda wildcards: hashed_checkpoint(
            {**data_train_options("ppeps", wildcards, "D"), "chi": int(wildcards.chi)},
            f"results/ppeps/{wildcards.data}/D{wildcards.D}_chi{wildcards.chi}/state",
            PPEPS_SOURCE,
        ),
        format_version=FORMAT_VERSION,
        source_hash=PPEPS_SOURCE,
    script:
        "../scripts/stage.py"


rule ppeps_sample:
    input:
        model=checked("results/ppeps/{data}/D{D}_chi{chi}/model.nc"),
    output:
        "results/ppeps/{data}/D{D}_chi{chi}/samples.nc",
    log:
        "results/logs/ppeps/{data}/D{D}_chi{chi}/sample.log",
    benchmark:
        "results/benchmarks/ppeps/{data}/D{D}_chi{chi}/sample.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: PPEPS["threads"]
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        stage="ppeps sample",
        options=lambda wildcards: data_sample_options("ppeps", wildcards),
        format_version=FORMAT_VERSION,
        source_hash=PPEPS_SOURCE,
    script:
        "../scripts/stage.py"


rule ppeps_aggregate:
    input:
        # one model per (D, chi) of the data set
        checked(
            lambda wildcards: expand(
                "results/ppeps/{data}/D{D}_chi{chi}/model.nc",
                data=wildcards.data,
                D=PPEPS[wildcards.data]["D"],
                chi=PPEPS[wildcards.data]["chi"],
            )
        ),
    output:
        nc="results/ppeps/{data}/summary.nc",
        csv=report(
            "results/ppeps/{data}/summary.csv",
            caption=REPORT_CAPTION,
            category="Positive PEPS",
        ),
    log:
        "results/logs/ppeps/{data}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ppeps aggregate",
        format_version=FORMAT_VERSION,
        caption=report_caption(
            "Positive PEPS per bond dimension D: training (and test) negative log-likelihood per "
            "image after maximum-likelihood training, the number of parameters, the boundary-MPS "
            "chi, the independent-pixel baseline, and for bars and stripes the share of valid "
            f"patterns among {PPEPS['samples']} exact samples."
        ),
    script:
        "../scripts/stage.py"


rule ppeps_nll_figure:
    input:
        checked(expand("results/ppeps/{data}/summary.nc", data=PPEPS_DATA)),
        # the Born machine's tables of the data sets both studies train on (drawn beside the PEPS)
        born=checked(
            [
                f"results/born/{data}/summary.nc"
                for data in PPEPS_DATA
                if PPEPS_BORN[data]["max_bond"]
            ]
        ),
    output:
        png=report(
            "results/figures/ppeps_nll.png",
            caption=REPORT_CAPTION,
            category="Positive PEPS",
        ),
        pdf="results/figures/ppeps_nll.pdf",
    log:
        "results/logs/figures/ppeps_nll.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ppeps figure nll",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.born", "difftn.plots.ppeps"
        ),
        caption=report_caption(
            "Negative log-likelihood per image of the positive PEPS p(x) = PEPS(x)/Z (tensors P = "
            "exp(theta), boundary-MPS contraction at the data set's chi) against its number of "
            "parameters, beside the MPS Born machine on the same data and split; test NLL where "
            "the data have a held-out split, training NLL otherwise; dashed: independent-pixel "
            "model (Laplace-smoothed); dotted (bars and stripes): the floor ln(number of "
            "patterns)."
        ),
    script:
        "../scripts/stage.py"


rule ppeps_samples_figure:
    input:
        checked(lambda wildcards: PPEPS_FIGURE_SAMPLES[wildcards.data]),
    output:
        png=report(
            "results/figures/ppeps_samples_{data}.png",
            caption=REPORT_CAPTION,
            category="Positive PEPS",
        ),
        pdf="results/figures/ppeps_samples_{data}.pdf",
    log:
        "results/logs/figures/ppeps_samples_{data}.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ppeps figure samples",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.born", "difftn.plots.ppeps"
        ),
        caption=report_caption(
            "Exact samples of the positive PEPS at the largest D of the study, drawn pixel by "
            f"pixel in snake order, and inpainting: the {PPEPS['figure']['hide']} half of each "
            "image drawn from the conditional distribution given the other half."
        ),
    script:
        "../scripts/stage.py"
