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
model = model_from_checkpoint(load_checkpoint(snakemake.input.checkpoint), snakemake.input.checkpoint).to(
    device
)
image = load_model_input(snakemake.input.image, settings)  # files already in the label frame
prob = predict_with_settings(model, image, settings, device)
write_image(snakemake.output.probability, prob.astype(np.float32))
write_image(snakemake.output.mask, np.where(prob >= 0.5, 255, 0).astype(np.uint8))
log.info("%s: vessel fraction %.4f", snakemake.input.image[0], float((prob >= 0.5).mean()))
