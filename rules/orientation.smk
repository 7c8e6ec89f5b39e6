# Guard: every label must match its projection in the configured orientation, clearly.
# (Official maps and folder-pair images are in the label frame already: with source maps
# or folders the check is that the label matches the image as it is.)


rule orientation:
    input:
        projection=get_reference_image,
        label=get_label,
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
        orientation=IMAGE_ORIENTATION,
    script:
        "../workflow_scripts/orientation.py"
