"""Rule ingest: one subject's B-scan folder -> HDF5 volume (scan, depth, x)."""

from octaseg import logs
from octaseg.io import ingest_bscans

log = logs.to_file(snakemake.log[0])
folder = snakemake.input.bscans
shape = ingest_bscans(
    folder,
    snakemake.output[0],
    expect_scans=snakemake.params.expect_scans,
    dataset=snakemake.params.dataset,
    attrs={"source_folder": str(folder)},
)
log.info("%s: volume %s (scan, depth, x) written to %s", folder, shape, snakemake.output[0])
