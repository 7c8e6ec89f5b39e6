# The classical baseline: Frangi vesselness (sigmas 2, 4, 6) + Otsu on the OCTA(FULL) image
# (with source maps or folders: the subject's reference image, see _reference_image in
# common.smk).


rule baseline:
    input:
        get_reference_image,
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
