# The classical baseline: Frangi vesselness (sigmas 2, 4, 6) + Otsu on the OCTA(FULL) image.


rule baseline:
    input:
        lambda wc: full_projection(wc.id),
    output:
        "results/frangi_otsu/masks/{id}.png",
    log:
        "logs/baseline/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../workflow_scripts/baseline.py"
