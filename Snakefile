# octaseg: raw OCTA-500 B-scan folders (or official projection maps) -> volumes ->
# layer surfaces -> projections -> models -> metrics.
import os
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.20")

# The rules import the octaseg package from src/: put it on the path of this process and,
# through PYTHONPATH, of every job, also inside --use-conda environments and on a cluster.
SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, SRC)
os.environ.update(
    PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
)


# The defaults beside this Snakefile, also when run with --directory elsewhere;
# --configfile and --config override them.
configfile: Path(workflow.basedir) / "config.yaml"


validate(config, "schemas/config.schema.yaml")


# `snakemake --report results/report.html` after a run: the description and config used.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/synthesize.smk"
include: "rules/ingest.smk"
include: "rules/layers.smk"
include: "rules/project.smk"
include: "rules/equalize.smk"
include: "rules/orientation.smk"
include: "rules/resample.smk"
include: "rules/train.smk"
include: "rules/predict.smk"
include: "rules/baseline.smk"
include: "rules/evaluate.smk"
include: "rules/realism.smk"
include: "rules/figures.smk"
include: "rules/learning_curve.smk"
include: "rules/ship.smk"


rule all:
    input:
        "results/summary.csv",
        # dataset statistics of the volumes: none when starting from maps
        ["results/realism.csv"] if SOURCE == "bscans" else [],
        "results/figures/dataset_examples.png",
        expand("results/{method}/figures/{id}.png", method=METHODS, id=SPLITS["test"]),
        expand("results/{exp}/roc_pr.png", exp=EXPERIMENTS),
        "results/figures/dice_comparison.png",
        # test Dice against training subjects: when experiments set train_subjects
        ["results/figures/learning_curve.png"] if CURVE_EXPERIMENTS else [],
