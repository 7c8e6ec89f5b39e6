"""Rule predict: vessel probability and mask of one subject (whole image or windows)."""

import torch

from octaseg import logs
from octaseg.predict import load_trained, predict_files

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# the experiment's settings, prediction's too; the threshold best.pt stores (chosen on
# validation with threshold: val); the input files are in the label frame already
trained = load_trained(snakemake.input.checkpoint, overrides=snakemake.params.settings)
prob = predict_files(trained, snakemake.input.image, snakemake.output.probability, snakemake.output.mask)
log.info(
    "%s: vessel fraction %.4f at threshold %.2f",
    snakemake.input.image[0],
    float((prob >= trained.threshold).mean()),
    trained.threshold,
)
