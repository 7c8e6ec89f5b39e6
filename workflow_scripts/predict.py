"""Rule predict: sliding-window vessel probability and mask of one subject."""

import numpy as np
import torch

from octaseg import logs
from octaseg.data import load_volume_channels
from octaseg.enhance import normalize
from octaseg.infer import predict_with_settings
from octaseg.io import read_image, write_image
from octaseg.train import load_checkpoint, model_from_checkpoint, pick_device

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings
device = pick_device(settings["device"])
model = model_from_checkpoint(load_checkpoint(snakemake.input.checkpoint)).to(device)
if settings["input"] == "volume":  # IPN: windows over the whole volume (channels * depth, H, W)
    image = load_volume_channels(snakemake.input.image)
else:
    image = normalize(read_image(snakemake.input.image[0]), settings["normalize"])
prob = predict_with_settings(model, image, settings, device)
write_image(snakemake.output.probability, prob.astype(np.float32))
write_image(snakemake.output.mask, np.where(prob >= 0.5, 255, 0).astype(np.uint8))
log.info("%s: vessel fraction %.4f", snakemake.input.image[0], float((prob >= 0.5).mean()))
