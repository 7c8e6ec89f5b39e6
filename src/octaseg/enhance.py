"""Contrast enhancement and per-image intensity normalization of en-face images."""

from __future__ import annotations

import cv2
import numpy as np

NORMALIZATIONS = ("zscore", "percentile", "minmax", "none")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Linearly stretch an image (H, W) of any dtype to the full uint8 range."""
    image = np.asarray(image, dtype=np.float32)
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.zeros(image.shape, np.uint8)
    return np.round((image - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def equalize(image: np.ndarray) -> np.ndarray:
    """Global histogram equalization (OpenCV) of an image (H, W) -> uint8 (H, W)."""
    if image.ndim != 2:
        raise ValueError(f"equalize expects a 2D image, got shape {image.shape}")
    return cv2.equalizeHist(to_uint8(image))


def normalize(image: np.ndarray, mode: str = "zscore") -> np.ndarray:
    """Per-image intensity normalization (H, W) -> float32 (H, W).

    ``zscore``: zero mean, unit standard deviation; ``percentile``: the 1st percentile to
    0 and the 99th to 1, values beyond kept (robust to saturated pixels and outliers);
    ``minmax``: scaled to [0, 1]; ``none``: unchanged values as float32. Per-image
    normalization lets one model read projections of different sources (raw depth means,
    official contrast-stretched 8-bit maps, equalized images).
    """
    image = np.asarray(image, dtype=np.float32)
    if mode == "zscore":
        std = float(image.std())
        return (image - float(image.mean())) / (std if std > 0 else 1.0)
    if mode == "percentile":
        lo, hi = (float(v) for v in np.percentile(image, (1.0, 99.0)))
        return (image - lo) / (hi - lo if hi > lo else 1.0)
    if mode == "minmax":
        lo, hi = float(image.min()), float(image.max())
        return (image - lo) / (hi - lo if hi > lo else 1.0)
    if mode == "none":
        return image
    raise ValueError(f"unknown normalization {mode!r}; expected one of {NORMALIZATIONS}")


def stretch_contrast(
    image: np.ndarray, low: float = 0.5, high: float = 99.0, gamma: float = 0.6
) -> np.ndarray:
    """An en-face projection (H, W) as an 8-bit display map, the way device software
    exports them: the ``low`` and ``high`` percentiles stretched to 0 and 255 (values
    beyond clipped), then a ``gamma`` that lifts the dark background. The defaults make
    a projection of the synthetic volumes look like OCTA-500's official maps (median
    about 110-120 of 255, 1% of pixels saturated) -> uint8 (H, W)."""
    if image.ndim != 2:
        raise ValueError(f"stretch_contrast expects a 2D image, got shape {image.shape}")
    image = np.asarray(image, dtype=np.float32)
    lo, hi = (float(v) for v in np.percentile(image, (low, high)))
    scaled = np.clip((image - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0) ** gamma
    return np.round(255.0 * scaled).astype(np.uint8)
