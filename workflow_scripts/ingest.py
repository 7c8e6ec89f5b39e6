"""Rule ingest: one subject's B-scan folder -> HDF5 volume (scan, depth, x)."""

from octaseg import logs
from octaseg.io import read_bscan_stack, write_volume

log = logs.to_file(snakemake.log[0])
folder = snakemake.input.bscans
volume = read_bscan_stack(folder, expect_scans=snakemake.params.expect_scans, threads=2)
write_volume(snakemake.output[0], volume, {"source_folder": str(folder)}, dataset=snakemake.params.dataset)
log.info("%s: volume %s (scan, depth, x) written to %s", folder, volume.shape, snakemake.output[0])
