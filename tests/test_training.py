"""Model, losses, patch sampling and a real (tiny) training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from octaseg.data import PatchSampler
from octaseg.losses import build_loss
from octaseg.models import build_model, count_parameters
from octaseg.train import fit, load_checkpoint, model_from_checkpoint


def test_seed_unet_parameter_count():
    model = build_model("unet", preset="seed")
    assert count_parameters(model) == 39_398_274
    assert build_model("unet", base=8, depth=3)(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(ValueError, match="divisible by 16"):
        build_model("unet", base=4)(torch.zeros(1, 1, 40, 40))


def test_losses_prefer_better_predictions():
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[:, 2:5] = 1
    good = torch.stack([1 - target, target], 1).float() * 8 - 4
    bad = -good
    for name in ["ce", "iou", "dice", {"ce": 1.0, "dice": 0.5}]:
        loss = build_loss(name)
        logits = good.clone().requires_grad_(True)
        value = loss(logits, target)
        value.backward()
        assert logits.grad is not None
        assert value < loss(bad, target)
    with pytest.raises(ValueError, match="focal"):
        build_loss("focal")


def test_sampler_keeps_image_and_mask_aligned(rng):
    mask = rng.random((80, 70)) < 0.2
    sampler = PatchSampler([mask.astype(np.float32)], [mask], patch_size=32, seed=3)
    x, y = sampler.batch(16)
    assert x.shape == (16, 1, 32, 32) and y.shape == (16, 32, 32) and y.dtype == np.int64
    np.testing.assert_array_equal(x[:, 0], y.astype(np.float32))
    again = PatchSampler([mask.astype(np.float32)], [mask], patch_size=32, seed=3).batch(16)
    np.testing.assert_array_equal(again[0], x)


def test_tiny_training_run_learns_and_checkpoints(tmp_path, rng):
    def sample():
        mask = np.zeros((64, 64), bool)
        for _ in range(4):
            mask[:, rng.integers(0, 60) :][:, :3] = True
        image = mask + rng.normal(0, 0.3, mask.shape)
        return image.astype(np.float32), mask

    train = [sample() for _ in range(3)]
    val = [sample() for _ in range(2)]
    settings = {
        "model": {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4},
        "loss": "ce",
        "lr": 0.01,
        "lr_step_epochs": 2,
        "lr_gamma": 0.5,
        "epochs": 4,
        "steps_per_epoch": 10,
        "batch_size": 8,
        "patch_size": 32,
        "patience": 10,
        "seed": 0,
        "amp": False,
        "device": "cpu",
        "window": 32,
        "stride": 16,
        "predict_batch_size": 16,
    }
    history = fit(
        [t[0] for t in train],
        [t[1] for t in train],
        [v[0] for v in val],
        [v[1] for v in val],
        settings,
        tmp_path,
    )
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert [h["lr"] for h in history] == [0.01, 0.01, 0.005, 0.005]
    assert history[-1]["loss"] < history[0]["loss"]
    assert max(h["val_dice"] for h in history) > 0.5
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["val_dice"] == pytest.approx(max(h["val_dice"] for h in history))
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "epoch", "best_score", "settings"}
    model_from_checkpoint(ckpt)
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == "epoch,loss,val_dice,lr,seconds"
