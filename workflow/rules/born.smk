# MPS Born machine study (Han et al., PRX 8, 031012 (2018)): one job per data
# set x maximal bond dimension, samples and inpainting from the largest one,
# one table per data set; figures: NLL against D_max, samples and inpainting.


include: "born_common.smk"


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
        options=born_train_options,
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
        options=born_sample_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*born_study.MODULES),
    script:
        "../scripts/stage.py"


rule born_aggregate:
    input:
        checked(born_models),
    output:
        nc="results/born/{data}/summary.nc",
        csv=report(
            "results/born/{data}/summary.csv",
            caption="../report/born_summary.rst",
            category="Born machine",
        ),
    log:
        "results/logs/born/{data}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="born aggregate",
        format_version=FORMAT_VERSION,
    script:
        "../scripts/stage.py"


rule born_nll_figure:
    input:
        checked(expand("results/born/{data}/summary.nc", data=BORN_DATA)),
    output:
        png=report(
            "results/figures/born_nll.png",
            caption="../report/born_nll.rst",
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
    script:
        "../scripts/stage.py"


rule born_samples_figure:
    input:
        checked(born_figure_samples),
    output:
        png=report(
            "results/figures/born_samples_{data}.png",
            caption="../report/born_samples.rst",
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
    script:
        "../scripts/stage.py"
