from __future__ import annotations

import numpy as np
import pytest

from octaseg.enhance import equalize, normalize, to_uint8
from octaseg.projection import TRANSFORMS, mean_projection, orient


def test_eight_distinct_transforms(rng):
    image = rng.random((5, 5))
    outs = [orient(image, name) for name in TRANSFORMS]
    assert len({o.tobytes() for o in outs}) == 8


def test_official_6mm_convention():
    # label row r is B-scan N-1-r; column c is x = c
    p = np.arange(12, dtype=np.float32).reshape(3, 4)  # P[scan, x]
    label_frame = orient(p, "flipud")
    assert label_frame[0].tolist() == p[2].tolist()
    np.testing.assert_array_equal(orient(p.T, "rot90"), label_frame)  # = np.rot90(P.T, 1)


def test_unknown_transform():
    with pytest.raises(ValueError, match="'upside'"):
        orient(np.zeros((2, 2)), "upside")


def test_mean_projection(rng):
    volume = rng.integers(0, 255, (6, 10, 4), dtype=np.uint8)
    p = mean_projection(volume)
    assert p.shape == (6, 4) and p.dtype == np.float32
    np.testing.assert_allclose(p, volume.astype(np.float64).mean(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        mean_projection(np.zeros((3, 3)))


def test_equalize_and_normalize(rng):
    image = rng.random((32, 32)).astype(np.float32) * 3
    eq = equalize(image)
    assert eq.dtype == np.uint8 and eq.min() == 0 and eq.max() == 255
    assert to_uint8(np.ones((3, 3))).max() == 0
    z = normalize(image, "zscore")
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    m = normalize(image, "minmax")
    assert m.min() == 0 and m.max() == pytest.approx(1)
    with pytest.raises(ValueError, match="'other'"):
        normalize(image, "other")
