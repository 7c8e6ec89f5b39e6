"""From files to predictions: a checkpoint and a subject's files in, its vessel
probability map and 0/255 mask out. The rule predict and ``octaseg predict`` both go
this one way.

:func:`load_trained` loads a checkpoint (training or exported, checked as a user's file
is) with the settings it was trained with, overridden where the caller says so, and
its threshold; :func:`predict_files` prepares a subject's files as training prepared
them (:func:`~octaseg.model_input.load_model_input`), predicts, and writes the
probability map (float32 TIFF) and the mask (:func:`write_mask`).

Torch loads when a model does (:func:`load_trained`), not with this module: the
baseline's jobs write their masks with :func:`write_mask` alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from octaseg.checkpoints import (
    load_for_prediction,
    model_from_checkpoint,
    pick_device,
    prediction_settings,
    prediction_threshold,
)
from octaseg.io import write_image
from octaseg.model_input import load_model_input

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TrainedModel:
    """A model ready to predict: on its device, with the settings to predict with (its
    preprocessing and prediction settings) and the threshold of its masks."""

    model: torch.nn.Module
    settings: dict[str, Any]
    threshold: float
    device: torch.device


def load_trained(
    checkpoint: str | Path | Traversable,
    where: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    threshold: float | None = None,
    device: str | None = None,
) -> TrainedModel:
    """The model in ``checkpoint`` (a file or a package resource), with its settings
    overridden by ``overrides`` (those not None: :func:`~octaseg.checkpoints.
    prediction_settings`), its threshold unless ``threshold`` is given, on ``device``
    (default: the settings' ``device``). A bad file raises InputError naming ``where``
    (default: ``checkpoint <path>``)."""
    ckpt = load_for_prediction(checkpoint, where)
    settings = prediction_settings(ckpt, overrides)
    target = pick_device(device or settings.get("device", "auto"))
    model = model_from_checkpoint(ckpt, checkpoint).to(target)
    return TrainedModel(model, settings, prediction_threshold(ckpt, threshold), target)


def predict_files(
    trained: TrainedModel,
    paths: Sequence[str | Path],
    probability: str | Path,
    mask: str | Path,
    orientation: str = "flipud",
) -> np.ndarray:
    """Predict one subject from its files (one per channel, as
    :func:`~octaseg.model_input.load_model_input` reads them; ``orientation`` turns raw
    volumes into the label frame), write its vessel probability (float32 (H, W), 0..1)
    to ``probability`` and its mask at the model's threshold to ``mask``; return the
    probability."""
    from octaseg.infer import predict_with_settings  # torch: see the module's docstring

    image = load_model_input(paths, trained.settings, orientation)
    prob = predict_with_settings(trained.model, image, trained.settings, trained.device)
    write_image(probability, prob.astype(np.float32))
    write_mask(mask, prob >= trained.threshold)
    return prob


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a bool mask (H, W) as a 0/255 uint8 image (the labels' format), atomically."""
    if mask.ndim != 2:
        raise ValueError(f"{path}: expected a mask (H, W), found an array of shape {mask.shape}")
    write_image(path, np.where(mask, 255, 0).astype(np.uint8))
