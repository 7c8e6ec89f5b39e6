"""Rule realism: per-subject statistics against the OCTA-500 bands, and the Frangi baseline."""

from octaseg import logs, realism
from octaseg.io import read_image, read_label, read_volume, write_csv

log = logs.to_file(snakemake.log[0])
rows = []
for i, subject in enumerate(snakemake.params.ids):
    projection = read_image(snakemake.input.projections[i])
    label = read_label(snakemake.input.labels[i], projection.shape)
    stats = realism.subject_stats(read_volume(snakemake.input.volumes[i]), label, projection)
    rows.append({"subject": subject, **stats})
write_csv(snakemake.output[0], rows)
log.info("\n%s", realism.summarize_stats(rows))
