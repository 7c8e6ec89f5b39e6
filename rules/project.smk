# Volume -> en-face projection of one channel (OCTA or OCT; the full depth, or a slab
# between two layer surfaces), turned into the label's orientation.


rule project:
    input:
        unpack(get_projection_inputs),
    output:
        "results/projections/{channel}/{id}.tif",
    log:
        "logs/project/{channel}/{id}.log",
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
