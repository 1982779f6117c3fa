# econalign: synthesize -> prepare_model -> finetune -> evaluate -> applications -> report -> paper.
# The Snakefile only wires stages together; each rule calls one `econalign` subcommand.
import os

from snakemake.utils import min_version

min_version("9.0")


# The working directory's config/config.yaml (the catalog convention), else the default study beside this
# Snakefile, so that `--directory elsewhere` runs the default study too.
DEFAULT_CONFIGFILE = "config/config.yaml"
if not os.path.exists(DEFAULT_CONFIGFILE):
    DEFAULT_CONFIGFILE = os.path.join(workflow.basedir, DEFAULT_CONFIGFILE)


configfile: DEFAULT_CONFIGFILE


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/applications.smk"
include: "workflow/rules/paper.smk"


rule all:
    default_target: True
    input:
        get_final_output(),


rule only_data:
    input:
        get_synthesized(),


rule only_finetune:
    input:
        get_adapters(),


rule only_evaluate:
    input:
        get_evaluations(),
