# Guard: every label must match its projection in the configured orientation, clearly.
# (Official maps are in the label frame already: with source maps the check is that
# the label matches the map as it is.)


rule orientation:
    input:
        projection=lambda wc: full_projection(wc.id),
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
        orientation="identity" if SOURCE == "maps" else ORIENTATION,
    script:
        "../workflow_scripts/orientation.py"
