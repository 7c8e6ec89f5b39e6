"""Rule synthesize: write one synthetic subject in the OCTA-500 layout (with
synthetic.maps_only its en-face files alone: maps, masks and labels)."""

from pathlib import Path

from octaseg import logs
from octaseg.synth import generate_subject, write_subject

log = logs.to_file(snakemake.log[0])
scans, depth, width = snakemake.params.geometry
volumes = hasattr(snakemake.output, "bscans")  # none with synthetic.maps_only
subject_id = int(snakemake.wildcards.id)
subject = generate_subject(subject_id, seed=snakemake.params.seed, scans=scans, depth=depth, width=width)
write_subject(
    snakemake.params.root,
    subject,
    fov=snakemake.params.fov,
    orientation=snakemake.params.orientation,
    volumes=volumes,
)
assert Path(snakemake.output.label).is_file() and (not volumes or Path(snakemake.output.bscans).is_dir())
if volumes:
    log.info("subject %d: %d B-scans of %dx%d written", subject_id, scans, depth, width)
else:
    log.info("subject %d: en-face files of %dx%d written (maps only)", subject_id, scans, width)
