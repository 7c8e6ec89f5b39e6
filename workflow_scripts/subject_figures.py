"""Rule subject_figures: one figure per test subject of one method (input, probability,
mask, label, errors), Dice in the title."""

from octaseg import logs
from octaseg.io import read_image, read_label
from octaseg.viz import subject_figure

log = logs.to_file(snakemake.log[0])
inputs = snakemake.input
method = snakemake.wildcards.method
ids = snakemake.params.ids
probabilities = inputs.probabilities or [None] * len(ids)
for i, subject in enumerate(ids):
    image = read_image(inputs.projections[i])
    label = read_label(inputs.labels[i], image.shape)
    mask = read_label(inputs.masks[i], image.shape)
    probability = None if probabilities[i] is None else read_image(probabilities[i])
    title = f"subject {subject}, {method}"
    name = snakemake.params.input_name
    score = subject_figure(snakemake.output[i], image, probability, mask, label, title, name)
    log.info("%s: Dice %.4f -> %s", subject, score, snakemake.output[i])
