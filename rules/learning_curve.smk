# Test Dice against the number of training subjects, for the experiments that set
# train_subjects (CURVE_EXPERIMENTS), one line per start (init_from: scratch, shipped or a
# checkpoint), with the table beside it; in `all` only when some experiment sets it.
from octaseg.few_labels import start_name

# Each point: its experiment, start (octaseg.few_labels.start_name) and number of
# training subjects.
CURVE_POINTS = [
    {
        "experiment": exp,
        "start": start_name(experiment_settings(config, exp).get("init_from")),
        "n": len(TRAIN_IDS[exp]),
    }
    for exp in CURVE_EXPERIMENTS
]


rule learning_curve:
    input:
        metrics=expand("results/{exp}/metrics.csv", exp=CURVE_EXPERIMENTS),
        # the train jobs' benchmark files: their wall-clock seconds (column s)
        benchmarks=expand("benchmarks/train/{exp}.tsv", exp=CURVE_EXPERIMENTS),
    output:
        figure=report(
            "results/figures/learning_curve.png",
            caption="../report/subjects_curve.rst",
            category="Summary",
            labels={"figure": "Dice against training subjects"},
        ),
        table=report(
            "results/learning_curve.csv",
            caption="../report/subjects_curve_table.rst",
            category="Summary",
            labels={"figure": "Dice against training subjects, table"},
        ),
    log:
        "logs/learning_curve.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        points=CURVE_POINTS,
    script:
        "../workflow_scripts/learning_curve.py"
