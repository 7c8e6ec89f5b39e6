"""Rule project: HDF5 volume (and layer surfaces) -> float32 en-face projection of one
channel, in the label frame."""

from octaseg import logs
from octaseg.io import InputError, read_volume, write_image
from octaseg.layers import SLABS, read_surfaces
from octaseg.projection import Channel, orient, project

log = logs.to_file(snakemake.log[0])
channel = Channel.from_key(snakemake.wildcards.channel)
volume = read_volume(snakemake.input.volume, channel.modality.lower())
bounds = SLABS[channel.slab]
top = bottom = None
if bounds:
    top, bottom = read_surfaces(snakemake.input.surfaces, bounds).values()
    if top.shape != (volume.shape[0], volume.shape[2]) or max(top.max(), bottom.max()) > volume.shape[1]:
        raise InputError(
            f"{snakemake.input.surfaces}: expected surfaces of the volume's {volume.shape[0]}x"
            f"{volume.shape[2]} A-scans within its {volume.shape[1]} depth rows "
            f"({snakemake.input.volume}), found {top.shape[0]}x{top.shape[1]} reaching row "
            f"{max(top.max(), bottom.max()):.0f}"
        )
projection = orient(project(volume, channel.reduce, top, bottom), snakemake.params.orientation)
write_image(snakemake.output[0], projection)
log.info(
    "%s projection %s (orientation %s), mean %.3f",
    channel.map_folder + ("" if channel.reduce == "mean" else f":{channel.reduce}"),
    projection.shape,
    snakemake.params.orientation,
    projection.mean(),
)
