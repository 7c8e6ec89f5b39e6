"""Smooth random fields the generator's stages share."""

from __future__ import annotations

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian-filtered white noise, float32 (shape), zero mean, unit s.d."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    if sigma_px > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    noise -= noise.mean()
    return noise / max(float(noise.std()), 1e-6)
