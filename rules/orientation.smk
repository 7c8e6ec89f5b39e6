# Guard: every label must match its projection in the configured orientation, clearly.


rule orientation:
    input:
        projection="results/projections/{id}.tif",
        label=lambda wc: str(label_path(DATA_ROOT, wc.id)),
    output:
        "results/orientation/{id}.json",
    log:
        "logs/orientation/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        orientation=ORIENTATION,
    script:
        "../workflow_scripts/orientation.py"
