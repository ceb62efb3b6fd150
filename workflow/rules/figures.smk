# Figures from aggregated tables; plotting changes rerun only these rules.


rule ising_figure:
    input:
        expand("results/ising/{run}/summary.nc", run=ISING_DIRS),
    output:
        png=report("results/figures/ising_fig3.png", caption="../report/ising_fig3.rst", category="Ising"),
        pdf="results/figures/ising_fig3.pdf",
    params:
        source_hash=source_hash("difftn.plots"),
    log:
        "results/logs/figures/ising_fig3.log",
    script:
        "../scripts/ising_figure.py"
