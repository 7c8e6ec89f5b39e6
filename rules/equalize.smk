# Projection -> globally histogram-equalized 8-bit image.


rule equalize:
    input:
        "results/projections/{id}.tif",
    output:
        "results/equalized/{id}.png",
    log:
        "logs/equalize/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../workflow_scripts/equalize.py"
