# Volume -> en-face mean projection over depth, in the label's orientation.


rule project:
    input:
        "results/volumes/{id}.h5",
    output:
        "results/projections/{id}.tif",
    log:
        "logs/project/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        orientation=ORIENTATION,
    script:
        "../workflow_scripts/project.py"
