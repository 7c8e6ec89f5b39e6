"""Rule predict: sliding-window vessel probability and mask of one subject."""

import numpy as np
import torch

from octaseg import logs
from octaseg.enhance import normalize
from octaseg.infer import predict_with_settings
from octaseg.io import read_blocks_volume, read_image, write_image
from octaseg.train import load_checkpoint, model_from_checkpoint, pick_device

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings
device = pick_device(settings["device"])
model = model_from_checkpoint(load_checkpoint(snakemake.input.checkpoint)).to(device)
if settings["input"] == "volume":  # IPN: windows over the whole volume (depth, H, W)
    volume, mean, std = read_blocks_volume(snakemake.input.image)
    image = np.moveaxis((volume - mean) / (std or 1.0), -1, 0)
else:
    image = normalize(read_image(snakemake.input.image), settings["normalize"])
prob = predict_with_settings(model, image, settings, device)
write_image(snakemake.output.probability, prob.astype(np.float32))
write_image(snakemake.output.mask, np.where(prob >= 0.5, 255, 0).astype(np.uint8))
log.info("%s: vessel fraction %.4f", snakemake.input.image, float((prob >= 0.5).mean()))
