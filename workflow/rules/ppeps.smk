# Positive-PEPS study (p(x) = PEPS(x) / Z, the talk's "positive PEPS"): one job per
# data set x bond D x boundary-MPS chi, samples and inpainting from the largest D and
# chi, one table per data set over (chi, D); figures: NLL against the parameter count
# beside the MPS Born machine on the same data and split, samples and inpainting.


include: "ppeps_common.smk"


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
        options=ppeps_train_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*ppeps_study.MODULES),
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
        options=ppeps_sample_options,
        format_version=FORMAT_VERSION,
        source_hash=source_hash(*ppeps_study.MODULES),
    script:
        "../scripts/stage.py"


rule ppeps_aggregate:
    input:
        checked(ppeps_models),
    output:
        nc="results/ppeps/{data}/summary.nc",
        csv=report(
            "results/ppeps/{data}/summary.csv",
            caption="../report/ppeps_summary.rst",
            category="Positive PEPS",
        ),
    log:
        "results/logs/ppeps/{data}/aggregate.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ppeps aggregate",
        format_version=FORMAT_VERSION,
    script:
        "../scripts/stage.py"


rule ppeps_nll_figure:
    input:
        checked(expand("results/ppeps/{data}/summary.nc", data=PPEPS_DATA)),
        born=checked(ppeps_born_summaries()),
    output:
        png=report(
            "results/figures/ppeps_nll.png",
            caption="../report/ppeps_nll.rst",
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
    script:
        "../scripts/stage.py"


rule ppeps_samples_figure:
    input:
        checked(ppeps_figure_samples),
    output:
        png=report(
            "results/figures/ppeps_samples_{data}.png",
            caption="../report/ppeps_samples.rst",
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
    script:
        "../scripts/stage.py"
