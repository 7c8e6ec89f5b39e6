"""Rule synthesize: write one synthetic subject in the OCTA-500 layout."""

from pathlib import Path

from octaseg import logs
from octaseg.synth import generate_subject, write_subject

log = logs.to_file(snakemake.log[0])
scans, depth, width = snakemake.params.geometry
subject_id = int(snakemake.wildcards.id)
subject = generate_subject(subject_id, seed=snakemake.params.seed, scans=scans, depth=depth, width=width)
write_subject(
    snakemake.params.root, subject, fov=snakemake.params.fov, orientation=snakemake.params.orientation
)
assert Path(snakemake.output.bscans).is_dir() and Path(snakemake.output.label).is_file()
log.info("subject %d: %d B-scans of %dx%d written", subject_id, scans, depth, width)
