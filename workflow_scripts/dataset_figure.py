"""Rule dataset_figure: a few projections beside their labels, to judge look and orientation."""

from octaseg import logs
from octaseg.io import read_image, read_label
from octaseg.viz import dataset_examples

log = logs.to_file(snakemake.log[0])
projections = [read_image(p) for p in snakemake.input.projections]
labels = [read_label(p, x.shape) for p, x in zip(snakemake.input.labels, projections, strict=True)]
dataset_examples(snakemake.output[0], snakemake.params.ids, projections, labels, snakemake.params.title)
log.info("wrote %s", snakemake.output[0])
