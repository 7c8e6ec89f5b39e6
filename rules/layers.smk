# Layer surfaces of one subject, for slab projections: OCTA-500's GT_Layers file, or
# estimated from the OCT volume (config `layers`).


rule surfaces:
    input:
        # named gt_layers or oct_volume: the script reads the one it is given
        unpack(get_surfaces_source),
    output:
        "results/surfaces/{id}.h5",
    log:
        "logs/surfaces/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    script:
        "../workflow_scripts/surfaces.py"
