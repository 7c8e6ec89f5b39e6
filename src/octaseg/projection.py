"""En-face projections of OCTA volumes and their orientation to the label frame.

A volume is stored as V[scan, depth, x] (B-scans stacked along the slow axis). Its
projection over depth is P[scan, x]. Label images of OCTA-500 are in another frame:
for 6mm they equal ``np.flipud(P)``, for 3mm probably ``np.fliplr(P)``. The transform
that takes P to the label frame is a setting per field of view, one of the eight
flips/rotations named in :data:`TRANSFORMS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: The eight symmetries of the square, by name: each maps P[scan, x] to the label frame.
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda a: a,
    "flipud": np.flipud,
    "fliplr": np.fliplr,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "transpose": lambda a: a.T,
    "antitranspose": lambda a: np.rot90(a, 2).T,
}


def orient(image: np.ndarray, transform: str) -> np.ndarray:
    """Apply the named transform to a 2D image (H, W) and return a contiguous copy."""
    try:
        fn = TRANSFORMS[transform]
    except KeyError:
        raise ValueError(
            f"unknown orientation transform {transform!r}; expected one of {sorted(TRANSFORMS)}"
        ) from None
    if image.ndim != 2:
        raise ValueError(f"orient expects a 2D image, got shape {image.shape}")
    return np.ascontiguousarray(fn(image))


def mean_projection(volume: np.ndarray) -> np.ndarray:
    """Mean over depth of a volume (scan, depth, x) -> float32 (scan, x)."""
    if volume.ndim != 3:
        raise ValueError(f"expected a volume shaped (scan, depth, x), got shape {volume.shape}")
    return volume.mean(axis=1, dtype=np.float32)
