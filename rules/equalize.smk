# Projection -> globally histogram-equalized 8-bit image, per channel.


rule equalize:
    input:
        "results/projections/{channel}/{id}.tif",
    output:
        "results/equalized/{channel}/{id}.png",
    log:
        "logs/equalize/{channel}/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../workflow_scripts/equalize.py"
