"""Rule orientation: stop if a label matches another flip/rotation of its projection better."""

import json

from octaseg import logs
from octaseg.io import atomic_path, read_image, read_label
from octaseg.projection import check_orientation

log = logs.to_file(snakemake.log[0])
projection = read_image(snakemake.input.projection)
label = read_label(snakemake.input.label, projection.shape)
scores = check_orientation(projection, label, snakemake.params.orientation, snakemake.wildcards.id)
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(json.dumps({"configured": snakemake.params.orientation, "correlation": scores}, indent=1))
log.info("orientation %s confirmed: %s", snakemake.params.orientation, scores)
