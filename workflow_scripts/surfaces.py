"""Rule surfaces: GT_Layers file or OCT volume -> layer surfaces (HDF5). The rule names
its one input for what it is (gt_layers or oct_volume, see get_surfaces_source)."""

from pathlib import Path

from octaseg import logs
from octaseg.io import read_volume
from octaseg.layers import estimate_surfaces, read_gt_layers, write_surfaces

log = logs.to_file(snakemake.log[0])
gt_layers = snakemake.input.get("gt_layers")
if gt_layers:  # checked against its volume where a slab is projected
    source = Path(gt_layers)
    surfaces = read_gt_layers(source)
    how = f"GT_Layers ({source})"
else:
    source = Path(snakemake.input.oct_volume)
    surfaces = estimate_surfaces(read_volume(source, "oct"))
    how = f"estimated from {source}"
write_surfaces(snakemake.output[0], surfaces, how)
log.info(
    "%s: %s",
    how,
    ", ".join(f"{name} mean row {surface.mean():.1f}" for name, surface in surfaces.items()),
)
