"""Rule resample: volume (scan, depth, x) -> (H, W, depth) in the label frame, depth resampled."""

from octaseg import logs
from octaseg.io import read_volume, write_blocks_volume
from octaseg.projection import resample_depth, volume_to_label_frame

log = logs.to_file(snakemake.log[0])
depth = int(snakemake.wildcards.depth)
raw = read_volume(snakemake.input[0], dataset=snakemake.wildcards.modality)
volume = volume_to_label_frame(resample_depth(raw, depth), snakemake.params.orientation)
write_blocks_volume(snakemake.output[0], volume, {"source": snakemake.input[0]})
log.info(
    "%s -> %s (H, W, depth), orientation %s", snakemake.input[0], volume.shape, snakemake.params.orientation
)
