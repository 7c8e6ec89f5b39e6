# How the dataset compares with OCTA-500, and a figure of it for a person to judge.


rule realism:
    input:
        volumes=expand("results/volumes/{id}.h5", id=ALL_IDS),
        projections=ALL_REFERENCE_IMAGES,
        labels=ALL_LABELS,
    output:
        report(
            "results/realism.csv", caption="../report/realism.rst", category="Dataset"
        ),
    log:
        "logs/realism.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        ids=ALL_IDS,
    script:
        "../workflow_scripts/realism.py"


rule dataset_figure:
    input:
        # the first four subjects
        projections=ALL_REFERENCE_IMAGES[:4],
        labels=ALL_LABELS[:4],
    output:
        report(
            "results/figures/dataset_examples.png",
            caption="../report/dataset_examples.rst",
            category="Dataset",
        ),
    log:
        "logs/dataset_figure.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        ids=ALL_IDS[:4],
        title=f"{'synthetic' if SYNTHETIC else DATA_ROOT} ({FOV}, orientation {IMAGE_ORIENTATION})",
    script:
        "../workflow_scripts/dataset_figure.py"
