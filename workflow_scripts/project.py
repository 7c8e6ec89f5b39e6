"""Rule project: HDF5 volume -> float32 mean projection over depth, in the label frame."""

from octaseg import logs
from octaseg.io import read_volume, write_image
from octaseg.projection import mean_projection, orient

log = logs.to_file(snakemake.log[0])
projection = orient(mean_projection(read_volume(snakemake.input[0])), snakemake.params.orientation)
write_image(snakemake.output[0], projection)
log.info(
    "projection %s (orientation %s), mean %.3f",
    projection.shape,
    snakemake.params.orientation,
    projection.mean(),
)
