# Volume -> depth-resampled volume in the label frame, for 3D -> 2D (IPN) experiments.


rule resample:
    input:
        "results/volumes/{id}.h5",
    output:
        "results/volumes_d{depth}/{id}.h5",
    log:
        "logs/resample/d{depth}/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    params:
        orientation=ORIENTATION,
    script:
        "../workflow_scripts/resample.py"
