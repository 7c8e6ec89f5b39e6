# The model shipped with the package, which `octaseg predict` uses without --checkpoint:
# the best.pt of the experiment config `ship` names, cut down to what prediction needs
# (float16 weights, settings, threshold and provenance; octaseg.checkpoints) and written
# to `ship_to`, by default into the package beside this Snakefile. Not part of `all`:
#   snakemake --cores all --configfile config/shipped.yaml ship
from pathlib import Path

from octaseg.checkpoints import SHIPPED

# absolute, so that --directory elsewhere still writes into the package
SHIP_TO = config.get("ship_to") or str(
    Path(workflow.basedir, "src", "octaseg", *SHIPPED)
)
# With ship: null the rule claims no real file, so that a training that starts from the
# shipped model (init_from: shipped) reads the package's file as it is; `snakemake ship`
# then stops saying that ship names no experiment (get_ship_checkpoint).
SHIP_OUTPUT = SHIP_TO if SHIP is not None else "results/ship_names_no_experiment"


rule ship:
    input:
        checkpoint=get_ship_checkpoint,
    output:
        SHIP_OUTPUT,
    log:
        "logs/ship.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        # the experiment's prediction settings too (tta): best.pt stores its training ones
        settings=get_ship_settings,
        provenance=get_ship_provenance,
    script:
        "../workflow_scripts/ship.py"
