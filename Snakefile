# difftn workflow: reproducible parameter studies on the difftn library.
#   snakemake --cores 2                                   default study (config.yaml)
#   snakemake --cores 2 --configfile workflow/configs/paper.yaml   paper's settings
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ising.smk"
include: "workflow/rules/heisenberg.smk"
include: "workflow/rules/j1j2.smk"
include: "workflow/rules/born.smk"
include: "workflow/rules/ppeps.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/spinglass.smk"
include: "workflow/rules/correlation.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
