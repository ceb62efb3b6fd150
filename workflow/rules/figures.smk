# Figures from aggregated tables; plotting changes rerun only these rules.


rule ising_figure:
    input:
        checked(expand("results/ising/{run}/summary.nc", run=ISING_DIRS)),
    output:
        png=report(
            "results/figures/ising_fig3.png",
            caption="../report/ising_fig3.rst",
            category="Ising",
        ),
        pdf="results/figures/ising_fig3.pdf",
    log:
        "results/logs/figures/ising_fig3.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="ising figure fig3",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.ising", "difftn.models.ising"
        ),
    script:
        "../scripts/stage.py"


rule heisenberg_figure:
    input:
        checked("results/heisenberg/summary.nc"),
    output:
        png=report(
            "results/figures/heisenberg_fig4.png",
            caption="../report/heisenberg_fig4.rst",
            category="Heisenberg",
        ),
        pdf="results/figures/heisenberg_fig4.pdf",
    log:
        "results/logs/figures/heisenberg_fig4.log",
    conda:
        "../../envs/difftn.yaml"
    params:
        stage="heisenberg figure fig4",
        format_version=FORMAT_VERSION,
        source_hash=source_hash(
            "difftn.plots.common", "difftn.plots.heisenberg", "difftn.data.reference"
        ),
    script:
        "../scripts/stage.py"
