"""Rule train: fit one experiment's model on the train split, early-stopped on val
(octaseg.experiment.train_experiment: resumable in params.state_dir)."""

import torch

from octaseg import logs
from octaseg.experiment import Outputs, Split, train_experiment

log = logs.to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
inputs, outputs = snakemake.input, snakemake.output
train_experiment(
    snakemake.wildcards.exp,
    Split(inputs.train_images, inputs.train_labels),
    Split(inputs.val_images, inputs.val_labels),
    snakemake.params.settings,
    Outputs(outputs.best, outputs.last, outputs.history, outputs.curve),
    snakemake.params.state_dir,
    log=log.info,
)
