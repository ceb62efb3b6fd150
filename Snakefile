# difftn workflow: reproducible parameter studies on the difftn library.
#   snakemake --cores 2                                   default study (config.yaml)
#   snakemake --cores 2 --configfile workflow/configs/paper.yaml   paper's settings
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"


# Every study's rules (workflow/rules/<study>.smk; see STUDY_RULES in common.smk).
for rule_file in STUDY_RULES:

    include: rule_file


include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        get_final_output(),
