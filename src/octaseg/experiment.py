"""One experiment's training, from its files to its outputs, as the rule train runs it.

:func:`train_experiment` reads the train and validation splits' files as prediction
reads them, trains with :func:`octaseg.train.fit` in a resume folder, draws the learning
curve, and moves the finished run's files into place.

Why a resume folder: Snakemake deletes the declared outputs of a job that fails or is
killed (a SLURM time limit, scancel, preemption), but not that folder, so the next run
resumes from the last.pt it holds. A finished run's files move into place, last.pt last:
its presence marks a complete run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octaseg.data import training_sampler
from octaseg.model_input import labelled_inputs
from octaseg.train import BEST, HISTORY, LAST, fit
from octaseg.viz import learning_curve


@dataclass(frozen=True)
class Split:
    """A split's files as the workflow lists them: each subject's input files (one per
    channel), subject after subject, and one label per subject in the same order."""

    images: Sequence[str]
    labels: Sequence[str]


@dataclass(frozen=True)
class Outputs:
    """Where a trained experiment's files go."""

    best: str | Path
    last: str | Path
    history: str | Path
    curve: str | Path


def train_experiment(
    name: str,
    train: Split,
    val: Split,
    settings: Mapping[str, Any],
    outputs: Outputs,
    state_dir: str | Path,
    log: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Train experiment ``name`` on the ``train`` split, validated and early-stopped on
    ``val``, in ``state_dir`` (resuming the run it holds when it was on the same files
    with the same settings); then write the learning curve and move best.pt, history.csv
    and last.pt to ``outputs``. Returns the per-epoch history."""
    sampler = training_sampler(train.images, train.labels, settings)
    val_images, val_masks = labelled_inputs(val.images, val.labels, settings)
    state = Path(state_dir)
    data = {"train": list(train.images), "val": list(val.images)}
    history = fit(sampler, val_images, val_masks, settings, state, log=log, resume_key=data)
    learning_curve(outputs.curve, history, name)
    for file, target in ((HISTORY, outputs.history), (BEST, outputs.best), (LAST, outputs.last)):
        os.replace(state / file, target)  # last.pt last: its presence marks a complete run
    log(f"moved the finished run from {state} into place")
    return history
