# Figures of the results: each test subject's prediction per method, ROC / precision-recall
# curves per experiment, and per-subject Dice of every method side by side.


# snakefmt takes a line-leading `report(` for the report: directive: the flag under another name
from snakemake.io import report as report_flag


rule subject_figures:
    input:
        # the image each method read (its first channel), named in the figure
        projections=get_figure_images,
        masks=TEST_MASKS,
        labels=LABELS["test"],
        orientation=ORIENTATION_CHECKS["test"],
        # the trained models' probability maps; the baseline has none
        probabilities=get_test_probabilities,
    output:
        # one figure per test subject, in the report under its method, labelled by subject
        [
            report_flag(
                f"results/{{method}}/figures/{i}.png",
                caption="../report/subject_figure.rst",
                category="Predictions",
                subcategory="{method}",
                labels={"method": "{method}", "subject": str(i)},
            )
            for i in SPLITS["test"]
        ],
    log:
        "logs/figures/{method}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        ids=SPLITS["test"],
        input_name=get_figure_image_name,
    script:
        "../workflow_scripts/subject_figures.py"


rule roc_pr:
    input:
        probabilities=expand("results/{{exp}}/probability/{id}.tif", id=SPLITS["test"]),
        labels=LABELS["test"],
        orientation=ORIENTATION_CHECKS["test"],
    output:
        report(
            "results/{exp}/roc_pr.png",
            caption="../report/roc_pr.rst",
            category="Curves",
            labels={"experiment": "{exp}"},
        ),
    log:
        "logs/roc_pr/{exp}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        ids=SPLITS["test"],
        bins=1000,
    script:
        "../workflow_scripts/roc_pr.py"


rule dice_comparison:
    input:
        expand("results/{method}/metrics.csv", method=METHODS),
    output:
        report(
            "results/figures/dice_comparison.png",
            caption="../report/dice_comparison.rst",
            category="Summary",
            labels={"figure": "Dice per method"},
        ),
    log:
        "logs/dice_comparison.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        methods=METHODS,
    script:
        "../workflow_scripts/dice_comparison.py"
