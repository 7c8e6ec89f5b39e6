"""Sliding-window stitching reproduces what the windows see."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from octaseg.infer import predict_probability, sliding_window, window_starts
from octaseg.models import build_model


def test_window_starts_flush_with_border():
    assert window_starts(400, 64, 16)[-1] == 336
    assert window_starts(400, 64, 32) == [*range(0, 321, 32), 336]
    assert window_starts(64, 64, 16) == [0]
    assert window_starts(50, 64, 16) == [0]
    with pytest.raises(ValueError, match="stride=0"):
        window_starts(100, 64, 0)


@pytest.mark.parametrize(("h", "w", "stride"), [(100, 90, 16), (64, 64, 32), (130, 70, 50), (40, 50, 16)])
def test_identity_and_constant_reproduced(rng, h, w, stride):
    image = rng.random((2, h, w)).astype(np.float32)
    out = sliding_window(image, lambda tiles: tiles * 1.0, window=64, stride=stride, batch_size=7)
    np.testing.assert_allclose(out, image, rtol=1e-6)
    const = sliding_window(image, torch.ones_like, window=64, stride=stride)
    np.testing.assert_array_equal(const, np.ones_like(image))


def test_predict_probability_shape():
    model = build_model("unet", base=4, depth=2)
    prob = predict_probability(model, np.zeros((70, 50), np.float32), window=32, stride=16)
    assert prob.shape == (70, 50) and ((prob >= 0) & (prob <= 1)).all()
