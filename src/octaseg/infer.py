"""Sliding-window prediction over whole images, with overlapping windows averaged."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from octaseg.losses import vessel_probability

Predictor = Callable[[torch.Tensor], torch.Tensor]


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Window start offsets along one axis: every ``stride``, the last flush with the border."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got window={window}, stride={stride}")
    if size <= window:
        return [0]
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def sliding_window(
    image: np.ndarray, predictor: Predictor, window: int, stride: int, batch_size: int = 32
) -> np.ndarray:
    """Predict an image (C, H, W) window by window and average where windows overlap.

    ``predictor`` maps a float32 tensor (B, C, window, window) to per-class values
    (B, K, window, window). Images smaller than the window are zero-padded. Returns
    float32 (K, H, W).
    """
    if image.ndim != 3:
        raise ValueError(f"expected an image (C, H, W), got shape {image.shape}")
    _, h, w = image.shape
    ph, pw = max(h, window), max(w, window)
    padded = np.zeros((image.shape[0], ph, pw), np.float32)
    padded[:, :h, :w] = image
    boxes = [(y, x) for y in window_starts(ph, window, stride) for x in window_starts(pw, window, stride)]
    total: np.ndarray | None = None
    count = np.zeros((ph, pw), np.float32)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        tiles = np.stack([padded[:, y : y + window, x : x + window] for y, x in chunk])
        out = predictor(torch.from_numpy(tiles)).float().cpu().numpy()
        if total is None:
            total = np.zeros((out.shape[1], ph, pw), np.float32)
        for (y, x), tile in zip(chunk, out, strict=True):
            total[:, y : y + window, x : x + window] += tile
            count[y : y + window, x : x + window] += 1
    assert total is not None
    return (total / count)[:, :h, :w]


def model_predictor(model: torch.nn.Module, device: torch.device, amp: bool = False) -> Predictor:
    """A predictor giving the vessel probability (B, 1, H, W) of a model in eval mode
    (softmax of 2-class or sigmoid of 1-class logits). For a volumetric model (IPN) the
    tiles' channels are the volume channels times depth: (B, C * D, h, w) goes in as
    (B, C, D, h, w)."""
    volumetric = getattr(model, "volumetric", False)

    def predict(tiles: torch.Tensor) -> torch.Tensor:
        model.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            x = tiles.to(device)
            if volumetric:  # (B, C * D, h, w) -> (B, C, D, h, w)
                x = x.reshape(x.shape[0], model.in_channels, -1, *x.shape[2:])
            if device.type == "cpu" and amp and not volumetric:
                x = x.contiguous(memory_format=torch.channels_last)
            return vessel_probability(model(x))[:, None]

    return predict


def predict_probability(
    model: torch.nn.Module,
    image: np.ndarray,
    window: int,
    stride: int,
    batch_size: int = 32,
    device: torch.device | None = None,
    amp: bool = False,
) -> np.ndarray:
    """Vessel probability (H, W) of a normalized image (H, W) or (C, H, W); for a
    volumetric model, volumes of C channels stacked along depth (C * D, H, W)."""
    device = device or torch.device("cpu")
    if image.ndim == 2:
        image = image[None]
    return sliding_window(image, model_predictor(model, device, amp), window, stride, batch_size)[0]


def predict_with_settings(
    model: torch.nn.Module, image: np.ndarray, settings: Mapping[str, Any], device: torch.device
) -> np.ndarray:
    """:func:`predict_probability` with an experiment's window, stride, batch size and amp."""
    return predict_probability(
        model, image, settings["window"], settings["stride"], settings["predict_batch_size"], device,
        settings["amp"],
    )  # fmt: skip
