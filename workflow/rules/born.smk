# MPS Born machine study (Han et al., PRX 8, 031012 (2018)): one job per data
# set x maximal bond dimension, samples and inpainting from the largest one,
# one table per data set; figures: NLL against D_max, samples and inpainting.


# The data-set helpers it shares with the positive PEPS (data_train_options, ...) are in
# common.smk.
from difftn.studies import born as born_study

BORN = config["born"]
BORN_DATA = [name for name in born_study.DATASETS if BORN[name]["max_bond"]]
# samples of the largest D_max of each data set (its sample figure)
BORN_FIGURE_SAMPLES = {
    data: f"results/born/{data}/Dmax{max(BORN[data]['max_bond'])}/samples.nc"
    for data in BORN_DATA
}

register_study(
    # tables and sample figures of each data set with a D_max list; NLL figure
    outputs=[
        *expand("results/born/{data}/summary.{ext}", data=BORN_DATA, ext=["nc", "csv"]),
        *expand(
            "results/figures/born_samples_{data}.{ext}",
            data=BORN_DATA,
            ext=["png", "pdf"],
        ),
        *(
            expand("results/figures/born_nll.{ext}", ext=["png", "pdf"])
            if BORN_DATA
            else []
        ),
    ],
    # per data set: each D_max's training, then the sampling of the largest
    benchmarks=[
        path
        for data in BORN_DATA
        for path in [
            *expand(
                "results/benchmarks/born/{data}/Dmax{D}/train.tsv",
                data=data,
                D=BORN[data]["max_bond"],
            ),
            f"results/benchmarks/born/{data}/Dmax{max(BORN[data]['max_bond'])}/sample.tsv",
        ]
    ],
)


rule born_train:
    output:
        "results/born/{data}/Dmax{D}/model.nc",
    log:
        "results/logs/born/{data}/Dmax{D}/train.log",
    benchmark:
        "results/benchmarks/born/{data}/Dmax{D}/train.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: BORN["threads"]
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        stage="born train",
        # a data set's own settings (shape, threshold, split) and training options at one D_max
        options=lambda wildcards: data_train_options("born", wildcards, "max_bond"),
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*born_study.MODULES),
    script:
        "../scripts/stage.py"


rule born_sample:
    input:
        model=checked("results/born/{data}/Dmax{D}/model.nc"),
    output:
        "results/born/{data}/Dmax{D}/samples.nc",
    log:
        "results/logs/born/{data}/Dmax{D}/sample.log",
    benchmark:
        "results/benchmarks/born/{data}/Dmax{D}/sample.tsv"
    conda:
        "../../envs/difftn.yaml"
    threads: BORN["threads"]
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        stage="born sample",
        options=lambda wildcards: data_sample_options("born", wildcards),
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*born_study.MODULES),
    script:
        "../scripts/stage.py"


rule born_aggregate:
    input:
        checked(
            lambda wildcards: expand(
                "results/born/{data}/Dmax{D}/model.nc",
                data=wildcards.data,
                D=BORN[wildcards.data]["max_bond"],
            )
        ),
    output:
        nc="results/born/{data}/summary.nc",
        csv=report(
            "results/born/{data}/summary.csv",
            caption=REPORT_CAPTION,
            category="Born machine",
        ),
    log:
        "results/logs/born/{data}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="born aggregate",
        format_version=FORMAT_VERSION,
        caption=report_caption(
            "MPS Born machine per maximal bond dimension D_max: training (and test) negative "
            "log-likelihood per image after two-site sweep training, the independent-pixel "
            "baseline, and for bars and stripes the share of valid patterns and the number of "
            f"distinct patterns among {BORN['samples']} exact samples."
        ),
    script:
        "../scripts/stage.py"


rule born_nll_figure:
    input:
        checked(expand("results/born/{data}/summary.nc", data=BORN_DATA)),
    output:
        png=report(
            "results/figures/born_nll.png",
            caption=REPORT_CAPTION,
            category="Born machine",
        ),
        pdf="results/figures/born_nll.pdf",
    log:
        "results/logs/figures/born_nll.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="born figure nll",
        format_version=FORMAT_VERSION,
        source_hash=source_hash("difftn.plots.common", "difftn.plots.born"),
        caption=report_caption(
            "Negative log-likelihood per image of the MPS Born machine (Han et al., PRX 8, 031012 "
            "(2018)) against the maximal bond dimension, trained by two-site sweeps with adaptive "
            "bonds; dashed: independent-pixel model (Laplace-smoothed); dotted (bars and "
            "stripes): the floor ln(number of patterns)."
        ),
    script:
        "../scripts/stage.py"


rule born_samples_figure:
    input:
        checked(lambda wildcards: BORN_FIGURE_SAMPLES[wildcards.data]),
    output:
        png=report(
            "results/figures/born_samples_{data}.png",
            caption=REPORT_CAPTION,
            category="Born machine",
        ),
        pdf="results/figures/born_samples_{data}.pdf",
    log:
        "results/logs/figures/born_samples_{data}.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="born figure samples",
        format_version=FORMAT_VERSION,
        source_hash=source_hash("difftn.plots.common", "difftn.plots.born"),
        caption=report_caption(
            "Exact (zipper) samples of the MPS Born machine at the largest D_max of the study, "
            f"and inpainting: the {BORN['figure']['hide']} half of each image drawn from the "
            "conditional distribution given the other half."
        ),
    script:
        "../scripts/stage.py"
