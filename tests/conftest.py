"""Shared test helpers: small B-scan folders written as real BMP files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest


def write_stack(folder: Path, volume: np.ndarray, names: list[str] | None = None) -> Path:
    """Write volume (scan, depth, x) as <i>.bmp files (1-based) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, bscan in enumerate(volume):
        name = names[i] if names else f"{i + 1}.bmp"
        assert cv2.imwrite(str(folder / name), bscan)
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def stack(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    """A 12-scan folder of 24x16 B-scans whose scan s is filled with value s+1 plus noise."""
    volume = rng.integers(0, 50, size=(12, 24, 16), dtype=np.uint8)
    volume[:, 0, 0] = np.arange(1, 13)
    return write_stack(tmp_path / "10001", volume), volume
