"""Rule predict: vessel probability and mask of every test subject of one experiment."""

import torch

from octaseg import logs
from octaseg.model_input import per_subject
from octaseg.predict import load_trained, predict_files

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# the experiment's settings, prediction's too; the threshold best.pt stores (chosen on
# validation with threshold: val); the input files are in the label frame already
trained = load_trained(snakemake.input.checkpoint, overrides=snakemake.params.settings)
outputs = zip(snakemake.output.probabilities, snakemake.output.masks, strict=True)
for images, (probability, mask) in zip(
    per_subject(snakemake.input.images, len(snakemake.output.masks)), outputs, strict=True
):
    prob = predict_files(trained, images, probability, mask)
    log.info(
        "%s: vessel fraction %.4f at threshold %.2f",
        images[0],
        float((prob >= trained.threshold).mean()),
        trained.threshold,
    )
