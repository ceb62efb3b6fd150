# MPS Born machine study (Han et al., PRX 8, 031012 (2018)): one job per data
# set x maximal bond dimension, samples and inpainting from the largest one,
# one table per data set; figures: NLL against D_max, samples and inpainting.


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
        format_version=FORMAT_VERSION,
        settings=born_settings,
        train=born_train_options,
        seed=BORN["seed"],
        samples=BORN["samples"],
        device=BORN["device"],
        dtype=BORN["dtype"],
        config_hash=born_config_hash,
        source_hash=source_hash(*born_study.MODULES),
    script:
        "../scripts/born_train.py"


rule born_sample:
    input:
        checked("results/born/{data}/Dmax{D}/model.nc"),
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
        format_version=FORMAT_VERSION,
        figure=BORN["figure"],
        seed=BORN["seed"],
        device=BORN["device"],
        config_hash=born_config_hash,
        source_hash=source_hash(*born_study.MODULES),
    script:
        "../scripts/born_sample.py"


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
        format_version=FORMAT_VERSION,
    script:
        "../scripts/born_aggregate.py"


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
        format_version=FORMAT_VERSION,
        source_hash=source_hash("difftn.plots", "difftn.plots_born"),
    script:
        "../scripts/born_figure.py"


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
        format_version=FORMAT_VERSION,
        source_hash=source_hash("difftn.plots", "difftn.plots_born"),
    script:
        "../scripts/born_figure.py"
