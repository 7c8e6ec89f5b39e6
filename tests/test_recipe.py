"""What the real-data recipe adds to training: augmentation, a threshold chosen on
validation and stored in the checkpoint, and mixed precision chosen by a probe."""

from __future__ import annotations

import copy
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml
from snakemake.utils import validate

from octaseg.checkpoints import load_checkpoint
from octaseg.cli import main as cli
from octaseg.data import PatchSampler, brightness_field, downsample, photometric
from octaseg.infer import inference_amp
from octaseg.io import read_image, write_image
from octaseg.losses import build_loss
from octaseg.metrics import choose_threshold
from octaseg.models import build_model
from octaseg.precision import probe_amp, resolve_amp
from octaseg.train import fit


def _vessels(rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A bright-stripes image (normalized) and its mask."""
    mask = np.zeros((size, size), bool)
    for _ in range(4):
        mask[:, rng.integers(0, size - 4) :][:, :3] = True
    image = mask + rng.normal(0, 0.3, mask.shape)
    return ((image - image.mean()) / image.std()).astype(np.float32), mask


def test_photometric_changes_intensity_not_range_or_shape(rng):
    ramp = np.linspace(-4, 6, 40, dtype=np.float32)  # z-scored values: far outside 0..1
    image = (ramp + rng.normal(0, 0.5, (48, 40))).astype(np.float32)
    every = {"contrast": 1.0, "gamma": 1.0, "noise": 1.0, "blur": 1.0}
    out = photometric(image, every, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.float32
    assert not np.allclose(out, image)
    assert out.min() < -1 and out.max() > 2  # not clipped to 0..1 as albumentations would
    np.testing.assert_array_equal(out, photometric(image, every, np.random.default_rng(0)))
    np.testing.assert_array_equal(photometric(image, {}, np.random.default_rng(0)), image)
    channels = photometric(np.stack([image, image], -1), every, np.random.default_rng(1))
    assert channels.shape == (48, 40, 2)


def test_elastic_deforms_image_and_mask_together(rng):
    mask = np.zeros((96, 96), bool)
    mask[:, 10:18] = mask[:, 40:52] = mask[60:70, :] = True  # wide stripes: edges are few
    sampler = PatchSampler([mask.astype(np.float32)], [mask], 64, seed=2, augment={"elastic": 1.0})
    x, y = sampler.batch(8)
    # the same warp on both (the image interpolated linearly, the mask by nearest pixel)
    assert np.mean((x[:, 0] > 0.5) == y.astype(bool)) > 0.97
    plain = PatchSampler([mask.astype(np.float32)], [mask], 64, seed=2).batch(8)[1]
    assert not np.array_equal(plain, y)  # and it did warp
    again = PatchSampler([mask.astype(np.float32)], [mask], 64, seed=2, augment={"elastic": 1.0})
    np.testing.assert_array_equal(again.batch(8)[0], x)  # deterministic for a seed


def test_zoom_scales_vessels_in_image_and_mask_together():
    """A 10 px stripe: zoom draws it 10 / 1.2 to 15 px wide, image and mask alike; half
    of the patches with zoom 0.5; without zoom it stays 10 px; deterministic per seed."""
    mask = np.zeros((400, 400), bool)
    mask[:, 195:205] = True
    image = mask.astype(np.float32)

    def widths(augment: dict, seed: int = 0) -> np.ndarray:
        x, y = PatchSampler([image], [mask], 256, seed=seed, augment=augment).batch(64)
        assert np.mean((x[:, 0] > 0.5) == y.astype(bool)) > 0.99
        out = []
        for m in y:
            m = m if m[128].any() else m.T  # the stripe upright (rot90 may lay it down)
            cols = np.flatnonzero(m.any(axis=0))
            if len(cols) and cols[0] > 0 and cols[-1] < 255:  # not cut by the patch's edge
                out.append(len(cols))
        return np.array(out)

    zoomed = widths({"zoom": 1.0})
    assert zoomed.min() >= 10 / 1.2 - 1 and zoomed.max() <= 15 + 1
    assert (zoomed < 9.5).any() and (zoomed > 12).any()
    np.testing.assert_array_equal(widths({}), 10)
    assert 0.25 < np.mean(widths({"zoom": 0.5}) != 10) < 0.75
    np.testing.assert_array_equal(widths({"zoom": 1.0}), zoomed)


def test_unknown_augmentation_is_refused_by_name(rng):
    image, mask = _vessels(rng)
    with pytest.raises(ValueError, match=r"unknown augmentation \['elastik'\]"):
        PatchSampler([image], [mask], 32, augment={"elastik": 0.5})


def _high_frequency(x: np.ndarray) -> float:
    """Mean squared energy above ~1 px scale: x minus its Gaussian blur (sigma 1 px)."""
    return float(np.mean((x - cv2.GaussianBlur(x, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)) ** 2))


@pytest.mark.parametrize("name", ["brightness_field", "downsample"])
def test_resolution_and_illumination_change_the_image_not_the_mask(rng, name):
    image, mask = _vessels(rng, 96)
    x, y = PatchSampler([image], [mask], 64, seed=4, augment={name: 1.0}).batch(4)
    plain_x, plain_y = PatchSampler([image], [mask], 64, seed=4).batch(4)
    np.testing.assert_array_equal(y, plain_y)  # the same crops and flips, the label untouched
    assert x.dtype == np.float32 and x.shape == plain_x.shape
    assert all(not np.allclose(a, b, atol=1e-3) for a, b in zip(x, plain_x, strict=True))
    again = PatchSampler([image], [mask], 64, seed=4, augment={name: 1.0}).batch(4)[0]
    np.testing.assert_array_equal(again, x)  # deterministic for a seed
    other = PatchSampler([image], [mask], 64, seed=5, augment={name: 1.0}).batch(4)[0]
    assert not np.array_equal(other, x)
    # off when missing or 0, drawing nothing: the stream of other settings is unchanged
    zero = PatchSampler([image], [mask], 64, seed=4, augment={name: 0.0, "noise": 1.0})
    np.testing.assert_array_equal(
        zero.batch(4)[0], PatchSampler([image], [mask], 64, seed=4, augment={"noise": 1.0}).batch(4)[0]
    )


@pytest.mark.parametrize("augment", [brightness_field, downsample])
def test_intensity_functions_keep_shape_dtype_and_z_scored_values(rng, augment):
    image = rng.normal(0, 1, (48, 40)).astype(np.float32) * 3  # far outside 0..1
    out = augment(image, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() < -2 and out.max() > 2  # not clipped or quantized as albumentations' are
    np.testing.assert_array_equal(out, augment(image, np.random.default_rng(0)))
    assert not np.array_equal(out, augment(image, np.random.default_rng(1)))
    for channels in (1, 3):
        stacked = np.repeat(image[..., None], channels, -1)
        many = augment(stacked, np.random.default_rng(0))
        assert many.shape == stacked.shape and many.dtype == np.float32
        np.testing.assert_allclose(many[..., -1], out, atol=1e-5)  # channel by channel alike


def test_brightness_field_is_a_smooth_multiplicative_field(rng):
    for seed in range(20):
        image = (1 + rng.uniform(0, 1, (64, 64))).astype(np.float32)  # fine texture
        image[0, 0] = 0  # the darkest pixel, kept as is: the field multiplies what lies above it
        out = brightness_field(image, np.random.default_rng(seed))
        assert out[0, 0] == 0
        field = out[1:, 1:] / image[1:, 1:]
        assert 0.03 < np.log(field).std() < 0.5  # uneven, within a sensible amplitude
        assert abs(np.log(field).mean()) < 0.02  # no overall brightening or dimming
        # smooth: almost none of the field's variance, and none of the texture, at fine scales
        assert _high_frequency(field) < 0.01 * field.var()
        assert _high_frequency(image) > 0.5 * image.var()


def test_downsample_removes_fine_detail(rng):
    noise = rng.normal(0, 1, (64, 64)).astype(np.float32)
    before = _high_frequency(noise)
    after = [_high_frequency(downsample(noise, np.random.default_rng(seed))) for seed in range(20)]
    assert max(after) < 0.5 * before  # white noise loses much of its pixel-scale energy
    assert min(after) > 0  # smoothed, not erased
    assert len(set(after)) > 10  # random factor and interpolation


def test_an_out_of_range_augmentation_probability_is_refused_naming_the_key():
    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    schema = Path(__file__).parents[1] / "schemas" / "config.schema.yaml"
    ok = copy.deepcopy(config)
    ok["train_defaults"]["augment"] = {"brightness_field": 0.5, "downsample": 1}
    validate(ok, str(schema))
    for key in ("brightness_field", "downsample"):
        bad = copy.deepcopy(config)
        bad["experiments"]["direct_ce"] = {"augment": {key: 1.5}}
        with pytest.raises(Exception, match=rf"greater than the maximum of 1[\s\S]*\['augment'\]\['{key}'\]"):
            validate(bad, str(schema))


def test_choose_threshold_finds_the_best_and_prefers_one_half_on_ties():
    truth = np.zeros((10, 10), bool)
    truth[:, :3] = True
    prob = np.where(truth, 0.3, 0.1)  # only thresholds in (0.1, 0.3] separate them
    threshold, dice = choose_threshold([prob], [truth])
    assert 0.1 < threshold <= 0.3 and dice == pytest.approx(1.0)
    assert threshold == pytest.approx(0.3)  # the perfect one nearest 0.5
    assert choose_threshold([prob], [truth], np.array([0.5]))[1] == pytest.approx(0.0)


def test_resolve_amp_probes_on_cpu_and_takes_cuda(rng):
    model = build_model("unet", base=4, depth=2)
    image, mask = _vessels(rng)
    sampler = PatchSampler([image], [mask], 32, seed=0)
    settings = {"loss": "ce", "batch_size": 4}
    messages: list[str] = []
    before = {k: v.clone() for k, v in model.state_dict().items()}
    choice = resolve_amp("auto", torch.device("cpu"), model, sampler, settings, messages.append)
    assert isinstance(choice, bool)
    assert "float32" in messages[0] and "bf16" in messages[0]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    assert resolve_amp(False, torch.device("cpu"), model, sampler, settings, messages.append) is False
    assert resolve_amp("auto", torch.device("cuda"), model, sampler, settings, messages.append) is True
    seconds = probe_amp(model, sampler.batch(2), build_loss("ce"), steps=1)
    assert set(seconds) == {False, True} and all(s > 0 for s in seconds.values())
    assert inference_amp("auto", torch.device("cpu")) is False
    assert inference_amp("auto", torch.device("cuda")) is True


def _settings(**extra):
    return {
        "model": {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4},
        "loss": {"ce": 1.0, "dice": 1.0},
        "lr": 0.01,
        "lr_schedule": "poly",
        "epochs": 3,
        "steps_per_epoch": 8,
        "batch_size": 8,
        "patch_size": 32,
        "patience": 10,
        "seed": 0,
        "amp": "auto",
        "device": "cpu",
        "input": "projection",
        "normalize": "none",
        "augment": {"elastic": 0.3, "contrast": 0.5, "gamma": 0.3, "noise": 0.2, "blur": 0.2},
        **extra,
    }


def test_threshold_chosen_on_validation_is_stored_and_used_by_predict(tmp_path, rng):
    train = [_vessels(rng) for _ in range(3)]
    val = [_vessels(rng) for _ in range(2)]
    settings = _settings(threshold="val")
    sampler = PatchSampler(
        [t[0] for t in train], [t[1] for t in train], 32, seed=0, augment=settings["augment"]
    )
    messages: list[str] = []
    fit(sampler, [v[0] for v in val], [v[1] for v in val], settings, tmp_path, log=messages.append)
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert 0.05 <= ckpt["threshold"] <= 0.95
    assert isinstance(load_checkpoint(tmp_path / "last.pt")["amp"], bool)  # what auto chose
    assert any(m.startswith("amp auto:") for m in messages)
    assert any(f"threshold {ckpt['threshold']:.2f} chosen on validation" in m for m in messages)

    # octaseg predict masks at the checkpoint's threshold unless told otherwise
    write_image(tmp_path / "10001.tif", val[0][0])
    args = ["predict", "--checkpoint", str(tmp_path / "best.pt"), "--input", str(tmp_path / "10001.tif")]
    assert cli([*args, "--out", str(tmp_path / "own")]) == 0
    assert cli([*args, "--out", str(tmp_path / "half"), "--threshold", "0.5"]) == 0
    prob = read_image(tmp_path / "own" / "probability" / "10001.tif")
    np.testing.assert_array_equal(
        read_image(tmp_path / "own" / "masks" / "10001.png") > 0, prob >= ckpt["threshold"]
    )
    np.testing.assert_array_equal(read_image(tmp_path / "half" / "masks" / "10001.png") > 0, prob >= 0.5)


def test_a_fixed_threshold_is_stored_as_set(tmp_path, rng):
    train = [_vessels(rng) for _ in range(2)]
    sampler = PatchSampler([t[0] for t in train], [t[1] for t in train], 32, seed=0)
    fit(sampler, [train[0][0]], [train[0][1]], _settings(threshold=0.35, epochs=1, amp=False), tmp_path)
    assert load_checkpoint(tmp_path / "best.pt")["threshold"] == pytest.approx(0.35)
