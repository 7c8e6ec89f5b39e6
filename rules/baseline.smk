# The classical baseline: Frangi vesselness (sigmas 2, 4, 6) + Otsu on the OCTA(FULL) image
# (with source maps or folders: the subject's reference image, see reference_image).


rule baseline:
    input:
        lambda wc: reference_image(wc.id),
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
