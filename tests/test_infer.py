"""Prediction over whole images: window placement, blending, whole-image mode and TTA
reproduce what the model sees."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from octaseg.infer import (
    TTA_VIEWS,
    gaussian_weights,
    predict_probability,
    predict_with_settings,
    sliding_window,
    whole_image,
    window_starts,
    with_tta,
)
from octaseg.models import build_model


@pytest.mark.parametrize(
    ("size", "window", "stride"), [(400, 64, 16), (400, 64, 32), (130, 64, 50), (65, 64, 1)]
)
def test_window_starts_spread_evenly_last_flush(size, window, stride):
    starts = window_starts(size, window, stride)
    gaps = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == size - window
    assert len(starts) == math.ceil((size - window) / stride) + 1  # as few windows as possible
    assert gaps.max() <= stride and gaps.max() - gaps.min() <= 1  # even: gaps differ by <= 1 px


def test_window_starts_cases():
    assert window_starts(400, 64, 16) == list(range(0, 337, 16))  # the original's 22 x 22 = 484 windows
    assert window_starts(400, 64, 32)[:3] == [0, 31, 61]
    assert window_starts(64, 64, 16) == [0]
    assert window_starts(50, 64, 16) == [0]
    with pytest.raises(ValueError, match="stride=0"):
        window_starts(100, 64, 0)


def test_gaussian_weights():
    w = gaussian_weights(64)
    assert w.shape == (64, 64) and w.dtype == np.float32
    assert w.max() == pytest.approx(1.0, abs=1e-3) and w.min() >= 1e-3
    np.testing.assert_array_equal(w, w.T)
    np.testing.assert_array_equal(w, w[::-1, ::-1])
    assert w[32, 32] > w[32, 16] > w[32, 0]  # the centre counts most


@pytest.mark.parametrize("blend", ["constant", "gaussian"])
@pytest.mark.parametrize(("h", "w", "stride"), [(100, 90, 16), (64, 64, 32), (130, 70, 50), (40, 50, 16)])
def test_identity_and_constant_reproduced(rng, h, w, stride, blend):
    image = rng.random((2, h, w)).astype(np.float32)
    out = sliding_window(image, lambda t: t * 1.0, window=64, stride=stride, batch_size=7, blend=blend)
    np.testing.assert_allclose(out, image, rtol=1e-5)
    const = sliding_window(image, torch.ones_like, window=64, stride=stride, blend=blend)
    np.testing.assert_allclose(const, np.ones_like(image), rtol=1e-6)


def test_gaussian_blend_prefers_window_centres():
    """Two windows overlap at x 16..47; each predicts its own window index. Constant
    blending averages (0.5) across the overlap; Gaussian blending follows the window whose
    centre is nearer."""
    starts = []

    def predictor(tiles: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(tiles)
        for i in range(len(tiles)):
            out[i] = len(starts)
            starts.append(i)
        return out

    image = np.zeros((1, 64, 96), np.float32)  # windows at x = 0 and x = 32
    flat = sliding_window(image, predictor, window=64, stride=32, blend="constant")[0]
    starts.clear()
    gauss = sliding_window(image, predictor, window=64, stride=32, blend="gaussian")[0]
    np.testing.assert_allclose(flat[:, 40], 0.5)
    mid = gauss[32]  # (the weights are clipped at 1e-3 far from the centre, near the top and bottom)
    assert mid[36] < 0.2 and mid[59] > 0.8 and mid[47] < 0.5 < mid[48]  # centres at 31.5 and 63.5
    assert (gauss[:, :32] == 0).all() and (gauss[:, 64:] == 1).all()  # one window only


def test_whole_image_pads_to_the_step_and_crops(rng):
    image = rng.random((2, 70, 50)).astype(np.float32)
    seen = []

    def predictor(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return x[:, :1] * 2

    out = whole_image(image, predictor, multiple=16)
    assert seen == [(1, 2, 80, 64)]
    np.testing.assert_allclose(out[0], image[0] * 2)
    with pytest.raises(ValueError, match=r"\(70, 50\)"):
        whole_image(image[0], predictor)


@pytest.mark.parametrize("tta", ["flips", "d4"])
def test_tta_turns_each_view_back(rng, tta):
    x = torch.from_numpy(rng.random((3, 2, 32, 32)).astype(np.float32))
    np.testing.assert_allclose(with_tta(lambda t: t * 1.0, tta)(x), x, rtol=1e-6)  # equivariant: unchanged
    ramp = torch.arange(32.0).expand(3, 1, 32, 32)  # a model that ignores its input
    averaged = with_tta(lambda t: ramp.clone(), tta)(x)
    np.testing.assert_allclose(averaged, torch.full_like(ramp, 15.5), rtol=1e-6)  # the mirrored views cancel
    assert len(TTA_VIEWS[tta]) == {"flips": 4, "d4": 8}[tta]
    with pytest.raises(ValueError, match="'rot45'"):
        with_tta(lambda t: t, "rot45")


@pytest.mark.parametrize("mode", ["whole", "window"])
@pytest.mark.parametrize("tta", ["none", "flips", "d4"])
def test_predict_probability_modes(mode, tta):
    torch.manual_seed(0)
    model = build_model("unet", base=4, depth=2)
    prob = predict_probability(
        model, np.zeros((70, 50), np.float32), mode=mode, window=32, stride=16, tta=tta
    )
    assert prob.shape == (70, 50) and prob.dtype == np.float32 and ((prob >= 0) & (prob <= 1)).all()


def test_whole_and_window_agree_inside_for_a_translation_invariant_model(rng):
    """A 1x1 convolution sees no context, so whole-image and window predictions match."""
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1))
    model.depth = 4
    image = rng.standard_normal((48, 80)).astype(np.float32)
    whole = predict_probability(model, image, mode="whole")
    windows = predict_probability(model, image, mode="window", window=32, stride=16)
    np.testing.assert_allclose(whole, windows, atol=1e-6)


def test_predict_with_settings_and_bad_mode():
    model = build_model("unet", base=4, depth=2)
    image = np.zeros((32, 32), np.float32)
    prob = predict_with_settings(model, image, {"predict_mode": "window", "window": 16, "stride": 8},
                                 torch.device("cpu"))  # fmt: skip
    assert prob.shape == (32, 32)
    with pytest.raises(ValueError, match="'tiles'"):
        predict_probability(model, image, mode="tiles")
