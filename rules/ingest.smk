# One subject's B-scan folder -> one HDF5 volume (scan, depth, x).


rule ingest:
    input:
        bscans=lambda wc: str(bscan_dir(DATA_ROOT, FOV, wc.id)),
    output:
        "results/volumes/{id}.h5",
    log:
        "logs/ingest/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    params:
        expect_scans=EXPECT_SCANS,
    script:
        "../workflow_scripts/ingest.py"
