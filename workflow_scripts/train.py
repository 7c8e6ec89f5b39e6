"""Rule train: fit one experiment's model on the train split, early-stopped on val."""

import os
from pathlib import Path

import numpy as np
import torch

from octaseg import logs
from octaseg.data import BlockSampler, PatchSampler
from octaseg.infer import load_model_input
from octaseg.io import read_label
from octaseg.train import fit
from octaseg.viz import learning_curve

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
settings = snakemake.params.settings
inputs = snakemake.input


def per_subject(files, labels):
    """The input files grouped per subject: one per channel."""
    n = len(files) // len(labels)
    return [files[i * n : (i + 1) * n] for i in range(len(labels))]


if settings["input"] == "volume":  # 3D -> 2D: blocks read from HDF5, whole volumes to validate
    train_y = [read_label(p) for p in inputs.train_labels]  # BlockSampler checks their shapes
    train_files = per_subject(inputs.train_images, train_y)
    sampler = BlockSampler(train_files, train_y, settings["patch_size"], seed=settings["seed"])
    val_x = [load_model_input(files, settings) for files in per_subject(inputs.val_images, inputs.val_labels)]
    val_y = [read_label(p, x.shape[1:]) for p, x in zip(inputs.val_labels, val_x, strict=True)]
else:
    # as prediction prepares them (load_model_input): one file per channel, already in
    # the label frame -> (channels, H, W); the sampler takes (H, W, channels)
    train_x = [load_model_input(f, settings) for f in per_subject(inputs.train_images, inputs.train_labels)]
    train_y = [read_label(p, x.shape[1:]) for p, x in zip(inputs.train_labels, train_x, strict=True)]
    train_x = [x[0] if len(x) == 1 else np.moveaxis(x, 0, -1) for x in train_x]
    sampler = PatchSampler(
        train_x, train_y, settings["patch_size"], seed=settings["seed"], augment=settings.get("augment")
    )
    val_x = [load_model_input(f, settings) for f in per_subject(inputs.val_images, inputs.val_labels)]
    val_y = [read_label(p, x.shape[1:]) for p, x in zip(inputs.val_labels, val_x, strict=True)]
# Train in a folder Snakemake does not manage: it deletes the declared outputs of a job
# that fails or is killed (a SLURM time limit, scancel, preemption), but not this state,
# so the next run resumes from its last.pt. A finished run's files move into place.
state = Path(snakemake.params.state_dir)
data = {"train": list(inputs.train_images), "val": list(inputs.val_images)}
history = fit(sampler, val_x, val_y, settings, state, log=log.info, resume_key=data)
learning_curve(snakemake.output.curve, history, snakemake.wildcards.exp)
for name in ("history", "best", "last"):  # last.pt last: its presence marks a complete run
    os.replace(state / Path(snakemake.output[name]).name, snakemake.output[name])
log.info("moved the finished run from %s into place", state)
