# Volume -> depth-resampled volume in the label frame, for 3D -> 2D (IPN) experiments:
# results/octa_d<D>/ from the OCTA volumes, results/oct_d<D>/ from the OCT volumes.


rule resample:
    input:
        get_ingested_volume,
    output:
        "results/{modality}_d{depth}/{id}.h5",
    log:
        "logs/resample/{modality}_d{depth}/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        orientation=ORIENTATION,
    script:
        "../workflow_scripts/resample.py"
