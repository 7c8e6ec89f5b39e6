# octaseg: raw OCTA-500 B-scan folders -> volumes -> projections -> models -> metrics.
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config.yaml"


validate(config, "schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/synthesize.smk"
include: "rules/ingest.smk"
include: "rules/project.smk"
include: "rules/equalize.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/evaluate.smk"


rule all:
    input:
        "results/summary.csv",
