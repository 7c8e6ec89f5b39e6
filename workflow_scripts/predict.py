"""Rule predict: vessel probability and mask of one subject (whole image or windows)."""

import numpy as np
import torch

from octaseg import logs
from octaseg.infer import load_model_input, predict_with_settings
from octaseg.io import write_image
from octaseg.train import load_checkpoint, model_from_checkpoint, pick_device

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings
device = pick_device(settings["device"])
ckpt = load_checkpoint(snakemake.input.checkpoint)
model = model_from_checkpoint(ckpt, snakemake.input.checkpoint).to(device)
threshold = float(ckpt.get("threshold", 0.5))  # chosen on validation with threshold: val
image = load_model_input(snakemake.input.image, settings)  # files already in the label frame
prob = predict_with_settings(model, image, settings, device)
write_image(snakemake.output.probability, prob.astype(np.float32))
write_image(snakemake.output.mask, np.where(prob >= threshold, 255, 0).astype(np.uint8))
log.info(
    "%s: vessel fraction %.4f at threshold %.2f",
    snakemake.input.image[0],
    float((prob >= threshold).mean()),
    threshold,
)
