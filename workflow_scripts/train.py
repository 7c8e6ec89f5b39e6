"""Rule train: fit one experiment's model on the train split, early-stopped on val."""

from pathlib import Path

import torch

from octaseg import logs
from octaseg.enhance import normalize
from octaseg.io import read_image, read_label
from octaseg.train import fit
from octaseg.viz import learning_curve

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings


def load(images, labels):
    xs = [normalize(read_image(p), settings["normalize"]) for p in images]
    ys = [read_label(p, x.shape) for p, x in zip(labels, xs, strict=True)]
    return xs, ys


train_x, train_y = load(snakemake.input.train_images, snakemake.input.train_labels)
val_x, val_y = load(snakemake.input.val_images, snakemake.input.val_labels)
out_dir = Path(snakemake.output.best).parent
history = fit(train_x, train_y, val_x, val_y, settings, out_dir, log=log.info)
learning_curve(snakemake.output.curve, history, snakemake.wildcards.exp)
