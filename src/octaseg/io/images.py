"""2D files: single-channel images, binary vessel labels and CSV tables, read with checks
and written atomically (:func:`~octaseg.io.atomic.atomic_path`)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from octaseg.io.atomic import atomic_path
from octaseg.io.bscans import read_bmp_gray8
from octaseg.io.errors import InputError


def read_image(path: str | Path) -> np.ndarray:
    """Read a single-channel image (BMP strictly, other formats through OpenCV) as (H, W)."""
    path = Path(path)
    if path.suffix.lower() == ".bmp":
        return read_bmp_gray8(path)
    if not path.is_file():
        raise InputError(f"{path}: expected an image file, found none")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: expected an image OpenCV can read, found an unreadable file")
    if image.ndim != 2:
        raise InputError(f"{path}: expected a single-channel image, found shape {image.shape}")
    return image


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a 2D image; the format follows the suffix (.png, .bmp, .tif for float32)."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image)):
            raise OSError(f"{path}: OpenCV could not write a {image.dtype} image")


def read_label(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary vessel label (values 0/255 or 0/1) as a bool array (H, W)."""
    image = read_image(path)
    if shape is not None and image.shape != tuple(shape):
        raise InputError(
            f"{path}: expected a label of {shape[0]}x{shape[1]}, found {image.shape[0]}x{image.shape[1]}"
        )
    values = np.unique(image)
    if not (set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}):
        shown = ", ".join(str(v) for v in values[:8]) + (" ..." if len(values) > 8 else "")
        raise InputError(f"{path}: expected a binary label with values 0/255 or 0/1, found values {shown}")
    return image > 0


def write_csv(
    path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> None:
    """Write rows (mappings with the same keys) as CSV atomically; floats with 6 decimals."""
    fields = list(fields or (rows[0].keys() if rows else []))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})
