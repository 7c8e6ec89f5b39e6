"""Prediction over whole images (or, for the IPN, whole volumes) with a callable model.

Two modes:

- ``whole``: a fully convolutional model sees the whole image at once, padded (mirrored)
  to a multiple of its size step (2**depth for a U-Net) and cropped back. This is the
  default: one forward pass instead of hundreds of overlapping windows.
- ``window``: overlapping windows, their starts spread evenly with the last window flush
  to the border, predicted in batches and blended with constant or Gaussian weights
  (the centre of a window counts more than its edges, as in nnU-Net and MONAI).

Either can average test-time augmentation over flips (``flips``: 4 views) or flips and
rot90 (``d4``: 8 views). A predictor maps a float32 tensor (B, C, h, w) to per-class values
(B, K, h, w); for a volumetric model the channels are volume channels times depth.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from octaseg.losses import vessel_probability

Predictor = Callable[[torch.Tensor], torch.Tensor]

MODES = ("whole", "window")
BLENDS = ("constant", "gaussian")
#: Test-time augmentation: name -> views as (quarter turns, flip left-right); each view's
#: prediction is turned back before averaging.
TTA_VIEWS: dict[str, tuple[tuple[int, bool], ...]] = {
    "none": ((0, False),),
    "flips": ((0, False), (0, True), (2, False), (2, True)),  # identity, lr, ud+lr, ud
    "d4": tuple((k, f) for k in range(4) for f in (False, True)),
}


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Window start offsets along one axis: as few windows as a step of at most ``stride``
    allows, spread evenly, the first at 0 and the last flush with the border."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got window={window}, stride={stride}")
    if size <= window:
        return [0]
    steps = math.ceil((size - window) / stride)
    return [round(i * (size - window) / steps) for i in range(steps + 1)]


@lru_cache(maxsize=8)
def gaussian_weights(window: int, sigma_scale: float = 0.125) -> np.ndarray:
    """(window, window) float32 importance map: a Gaussian of sigma ``sigma_scale * window``
    centred on the window, scaled to a maximum of 1 and clipped below at 1e-3, so that the
    corners keep a weight."""
    axis = np.arange(window, dtype=np.float64) - (window - 1) / 2
    g = np.exp(-(axis**2) / (2 * (sigma_scale * window) ** 2))
    weights = np.outer(g, g)
    weights /= weights.max()
    weights = np.maximum(weights, 1e-3)
    return weights.astype(np.float32)


def sliding_window(
    image: np.ndarray,
    predictor: Predictor,
    window: int,
    stride: int,
    batch_size: int = 32,
    blend: str = "gaussian",
) -> np.ndarray:
    """Predict an image (C, H, W) window by window and blend where windows overlap.

    ``blend``: ``constant`` averages overlapping windows; ``gaussian`` weights each
    window's pixels by :func:`gaussian_weights`. Images smaller than the window are
    zero-padded. Returns float32 (K, H, W).
    """
    if image.ndim != 3:
        raise ValueError(f"expected an image (C, H, W), got shape {image.shape}")
    if blend not in BLENDS:
        raise ValueError(f"blend must be one of {BLENDS}, got {blend!r}")
    _, h, w = image.shape
    ph, pw = max(h, window), max(w, window)
    padded = np.zeros((image.shape[0], ph, pw), np.float32)
    padded[:, :h, :w] = image
    weight = gaussian_weights(window) if blend == "gaussian" else np.ones((window, window), np.float32)
    boxes = [(y, x) for y in window_starts(ph, window, stride) for x in window_starts(pw, window, stride)]
    total: np.ndarray | None = None
    norm = np.zeros((ph, pw), np.float32)
    for i in range(0, len(boxes), batch_size):
        chunk = boxes[i : i + batch_size]
        tiles = np.stack([padded[:, y : y + window, x : x + window] for y, x in chunk])
        out = predictor(torch.from_numpy(tiles)).float().cpu().numpy()
        if total is None:
            total = np.zeros((out.shape[1], ph, pw), np.float32)
        for (y, x), tile in zip(chunk, out, strict=True):
            total[:, y : y + window, x : x + window] += tile * weight
            norm[y : y + window, x : x + window] += weight
    assert total is not None
    return (total / norm)[:, :h, :w]


def whole_image(image: np.ndarray, predictor: Predictor, multiple: int = 16) -> np.ndarray:
    """Predict an image (C, H, W) in one pass: mirror-pad H and W up to a multiple of
    ``multiple``, predict, crop. Returns float32 (K, H, W)."""
    if image.ndim != 3:
        raise ValueError(f"expected an image (C, H, W), got shape {image.shape}")
    if multiple < 1:
        raise ValueError(f"multiple must be positive, got {multiple}")
    _, h, w = image.shape
    pad = ((0, 0), (0, -h % multiple), (0, -w % multiple))
    # symmetric padding keeps vessels continuous at the border; it needs pad <= size
    mode = "symmetric" if pad[1][1] <= h and pad[2][1] <= w else "constant"
    padded = np.pad(image.astype(np.float32, copy=False), pad, mode=mode)
    out = predictor(torch.from_numpy(np.ascontiguousarray(padded))[None]).float().cpu().numpy()[0]
    return out[:, :h, :w]


def with_tta(predictor: Predictor, tta: str = "none") -> Predictor:
    """``predictor`` averaged over test-time views (:data:`TTA_VIEWS`): each view turns
    and flips the last two axes of the input, and its output is turned back."""
    if tta not in TTA_VIEWS:
        raise ValueError(f"tta must be one of {sorted(TTA_VIEWS)}, got {tta!r}")
    views = TTA_VIEWS[tta]
    if len(views) == 1:
        return predictor

    def predict(x: torch.Tensor) -> torch.Tensor:
        total = None
        for k, flip in views:
            v = torch.rot90(x, k, dims=(-2, -1)) if k else x
            v = torch.flip(v, dims=(-1,)) if flip else v
            out = predictor(v.contiguous()).float()
            out = torch.flip(out, dims=(-1,)) if flip else out
            out = torch.rot90(out, -k, dims=(-2, -1)) if k else out
            total = out if total is None else total + out
        assert total is not None
        return total / len(views)

    return predict


def size_multiple(model: torch.nn.Module) -> int:
    """The step H and W must be a multiple of for ``model``: 2**depth for a U-Net, 1 for a
    model that does not downsample in-plane (IPN)."""
    if getattr(model, "volumetric", False):
        return 1
    return 2 ** int(getattr(model, "depth", 4))


def model_predictor(model: torch.nn.Module, device: torch.device, amp: bool = False) -> Predictor:
    """A predictor giving the vessel probability (B, 1, H, W) of a model in eval mode
    (softmax of 2-class or sigmoid of 1-class logits). For a volumetric model (IPN) the
    tiles' channels are the volume channels times depth: (B, C * D, h, w) goes in as
    (B, C, D, h, w). ``amp``: bf16 autocast on CPU, float16 on CUDA."""
    volumetric = getattr(model, "volumetric", False)
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16

    def predict(tiles: torch.Tensor) -> torch.Tensor:
        model.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=amp):
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
    mode: str = "whole",
    window: int = 64,
    stride: int = 32,
    batch_size: int = 32,
    blend: str = "gaussian",
    tta: str = "none",
    device: torch.device | None = None,
    amp: bool = False,
) -> np.ndarray:
    """Vessel probability (H, W) of a normalized image (H, W) or (C, H, W); for a
    volumetric model, volumes of C channels stacked along depth (C * D, H, W).

    ``mode`` ``whole`` predicts the padded image at once; ``window`` slides ``window``-sized
    windows at a step of at most ``stride``, ``batch_size`` at a time, blended by ``blend``.
    ``tta`` averages over test-time views (none, flips, d4).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    device = device or torch.device("cpu")
    if image.ndim == 2:
        image = image[None]
    predictor = with_tta(model_predictor(model, device, amp), tta)
    if mode == "whole":
        return whole_image(image, predictor, size_multiple(model))[0]
    return sliding_window(image, predictor, window, stride, batch_size, blend)[0]


def predict_with_settings(
    model: torch.nn.Module, image: np.ndarray, settings: Mapping[str, Any], device: torch.device
) -> np.ndarray:
    """:func:`predict_probability` with an experiment's settings (predict_mode, window,
    stride, predict_batch_size, blend, tta, amp; missing ones take the defaults)."""
    return predict_probability(
        model,
        image,
        mode=settings.get("predict_mode", "whole"),
        window=settings.get("window", 64),
        stride=settings.get("stride", 32),
        batch_size=settings.get("predict_batch_size", 32),
        blend=settings.get("blend", "gaussian"),
        tta=settings.get("tta", "none"),
        device=device,
        amp=inference_amp(settings.get("amp", False), device),
    )


def inference_amp(setting: bool | str, device: torch.device) -> bool:
    """Mixed precision for prediction: as set, and with ``auto`` on CUDA only (on CPU a
    prediction is cheap next to training, and float32 keeps it exact)."""
    return device.type == "cuda" if setting == "auto" else bool(setting)
