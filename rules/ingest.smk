# One subject's B-scan folder -> one HDF5 volume (scan, depth, x). OCTA always; OCT only
# when an experiment reads it.


rule ingest:
    input:
        bscans=get_bscans,
    output:
        "results/volumes/{id}.h5",
    log:
        "logs/ingest/{id}.log",
    conda:
        "../envs/octaseg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        expect_scans=EXPECT_SCANS,
        dataset="octa",
        # a B-scan overwritten in place re-ingests (the folder's mtime does not change)
        fingerprint=get_bscans_fingerprint,
    script:
        "../workflow_scripts/ingest.py"


use rule ingest as ingest_oct with:
    input:
        bscans=get_oct_bscans,
    output:
        "results/volumes_oct/{id}.h5",
    log:
        "logs/ingest_oct/{id}.log",
    params:
        expect_scans=EXPECT_SCANS,
        dataset="oct",
        fingerprint=get_oct_bscans_fingerprint,
