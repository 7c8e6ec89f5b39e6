"""Model, losses, patch sampling and a real (tiny) training run."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from octaseg.checkpoints import load_checkpoint, model_from_checkpoint, plain
from octaseg.data import PatchSampler
from octaseg.models import build_model, count_parameters
from octaseg.train import fit, lr_factor


def test_seed_unet_parameter_count():
    model = build_model("unet", preset="seed")
    assert count_parameters(model) == 39_398_274
    assert build_model("unet", base=8, depth=3)(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(ValueError, match="divisible by 16"):
        build_model("unet", base=4)(torch.zeros(1, 1, 40, 40))


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
    sampler = PatchSampler([t[0] for t in train], [t[1] for t in train], patch_size=32, seed=0)
    history = fit(sampler, [v[0] for v in val], [v[1] for v in val], settings, tmp_path)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert [h["lr"] for h in history] == [0.01, 0.01, 0.005, 0.005]
    assert history[-1]["loss"] < history[0]["loss"]
    assert max(h["val_dice"] for h in history) > 0.5
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert ckpt["val_dice"] == pytest.approx(max(h["val_dice"] for h in history))
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "epoch", "best_score", "settings"}
    model_from_checkpoint(ckpt)
    assert (tmp_path / "history.csv").read_text().splitlines()[
        0
    ] == "epoch,loss,val_dice,lr,seconds,samples_per_s"


# --------------------------------------------------------------------------- resume and signals

JOB = Path(__file__).with_name("train_job.py")


def _job(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(JOB), str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _same_run(a: Path, b: Path) -> None:
    assert (a / "history.csv").read_text().count("\n") == (b / "history.csv").read_text().count("\n")
    for name in ["best.pt", "last.pt"]:
        wa, wb = _weights(a / name), _weights(b / name)
        assert all(torch.equal(wa[k], wb[k]) for k in wa), name
    ha = [line.split(",")[:4] for line in (a / "history.csv").read_text().splitlines()]
    hb = [line.split(",")[:4] for line in (b / "history.csv").read_text().splitlines()]
    assert ha == hb  # epoch, loss, val_dice, lr: identical; seconds differ


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("uninterrupted")
    done = _job(out)
    assert done.wait(120) == 0, done.stdout.read()
    return out


def test_two_runs_are_identical(uninterrupted, tmp_path):
    done = _job(tmp_path)
    assert done.wait(120) == 0
    _same_run(uninterrupted, tmp_path)


def _slow_job_past_epoch_1(out: Path, pause: float) -> subprocess.Popen:
    """A slow training job, returned ``pause`` seconds after its first last.pt appeared."""
    job = _job(out, "slow")
    deadline = time.time() + 60
    while not (out / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(pause)
    return job


def test_sigkill_then_rerun_resumes_to_the_same_result(uninterrupted, tmp_path):
    job = _slow_job_past_epoch_1(tmp_path, 0.3)  # somewhere in epoch 2
    job.send_signal(signal.SIGKILL)
    job.wait(30)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] < 4
    again = _job(tmp_path)
    output = again.communicate(timeout=120)[0]
    assert again.returncode == 0 and "RESUMED" in output, output
    _same_run(uninterrupted, tmp_path)


def test_sigterm_saves_mid_epoch_and_resumes_to_the_same_result(uninterrupted, tmp_path):
    job = _slow_job_past_epoch_1(tmp_path, 0.6)  # past the pause after epoch 1: inside epoch 2
    job.send_signal(signal.SIGTERM)
    output = job.communicate(timeout=60)[0]
    assert job.returncode == 143, output
    assert "SIGTERM at epoch" in output
    state = load_checkpoint(tmp_path / "last.pt")
    assert 0 < state["step"] <= 12 and not state["finished"]
    again = _job(tmp_path)
    output = again.communicate(timeout=120)[0]
    assert again.returncode == 0 and f"resuming from {tmp_path / 'last.pt'}" in output, output
    _same_run(uninterrupted, tmp_path)


def test_resume_only_on_the_same_data(tmp_path):
    """An unfinished run on other training data (another resume_key) starts afresh."""
    sys.path.insert(0, str(JOB.parent))
    from train_job import SETTINGS, data

    images, masks = data(0, 2)
    settings = {**SETTINGS, "epochs": 2, "steps_per_epoch": 2}
    sampler = PatchSampler(images, masks, 32, seed=0)
    fit(sampler, images, masks, {**settings, "epochs": 1}, tmp_path, log=lambda m: None, resume_key=["a"])
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["resume_key"] == ["a"] and state["finished"]
    # make it look unfinished (as after a kill) and rerun with the full settings:
    state["finished"], state["settings"] = False, plain(settings)
    torch.save(state, tmp_path / "last.pt")
    lines: list[str] = []
    fit(sampler, images, masks, settings, tmp_path, log=lines.append, resume_key=["a"])
    assert any(line.startswith("resuming from") for line in lines), lines
    state["finished"] = False
    torch.save(state, tmp_path / "last.pt")
    lines.clear()
    fit(sampler, images, masks, settings, tmp_path, log=lines.append, resume_key=["a", "b"])
    assert any("starting afresh" in line for line in lines), lines


def _equal(a, b) -> bool:
    """Checkpoint values equal, tensors bit for bit."""
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b or (a != a and b != b)  # NaN val_dice before the first epoch


def test_train_state_saves_and_restores_itself(tmp_path):
    """TrainState.restore takes back what TrainState.checkpoint saved: mid-epoch it goes on
    at the step it had reached; at an epoch's end (validated) with the next epoch."""
    from train_job import SETTINGS, data

    from octaseg.train import end_epoch, start, train_epoch

    images, masks = data(1, 2)
    settings = {**SETTINGS, "epochs": 2, "steps_per_epoch": 3}

    def fresh():
        return start(PatchSampler(images, masks, 32, seed=0), settings, tmp_path, None, lambda _: None)

    state, run = fresh()
    assert (state.epoch, state.step, state.history) == (1, 0, [])
    state.step, state.epoch_losses = 2, [0.5, 0.4]  # as a SIGTERM after two steps leaves it
    saved = state.checkpoint()
    other, _ = fresh()
    other.restore(saved)
    assert _equal(other.checkpoint(), saved) and (other.epoch, other.step) == (1, 2)

    state, run = fresh()
    timing = train_epoch(
        state, run, PatchSampler(images, masks, 32, seed=0), stop=SimpleNamespace(signal=None)
    )
    assert state.step == 3 and len(state.epoch_losses) == 3 and set(timing) == {"seconds", "samples_per_s"}
    end_epoch(state, run, timing, *data(2, 1))
    assert (state.epoch, state.step, state.epoch_losses) == (2, 0, [])  # on to the next epoch
    last = load_checkpoint(tmp_path / "last.pt")
    assert (last["epoch"], last["step"], last["epoch_losses"], last["finished"]) == (1, 3, [], False)
    other, _ = fresh()
    other.restore(last)
    assert (other.epoch, other.step) == (2, 0) and _equal(other.history, state.history)
    assert _equal(other.model.state_dict(), state.model.state_dict())


def test_lr_schedules():
    base = {"epochs": 10, "lr_step_epochs": 3, "lr_gamma": 0.5}
    assert [lr_factor(e, {**base, "lr_schedule": "step"}) for e in (0, 2, 3, 6)] == [1, 1, 0.5, 0.25]
    assert lr_factor(0, {**base, "lr_schedule": "cosine"}) == 1
    assert lr_factor(5, {**base, "lr_schedule": "cosine"}) == pytest.approx(0.5)
    assert lr_factor(10, {**base, "lr_schedule": "poly"}) == 0
    with pytest.raises(ValueError, match="'linear'"):
        lr_factor(0, {**base, "lr_schedule": "linear"})


def test_nan_loss_stops_training(tmp_path):
    from train_job import SETTINGS, data

    images, masks = data(1, 2)
    images[0][:] = np.nan
    with pytest.raises(FloatingPointError, match="loss is nan"):
        fit(PatchSampler(images, masks, 32), images, masks, SETTINGS, tmp_path, log=lambda _: None)
    assert not (tmp_path / "best.pt").exists()


def test_ipn_parameter_count_and_shapes():
    model = build_model("ipn", preset="seed")
    assert count_parameters(model) == 1_554_434
    small = build_model("ipn", channels=4, pools=[4, 2])
    assert small(torch.zeros(2, 1, 8, 20, 12)).shape == (2, 2, 20, 12)
    with pytest.raises(ValueError, match=r"needs blocks \(B, C, 8, H, W\)"):
        small(torch.zeros(2, 1, 10, 20, 12))


# --------------------------------------------------------------------------- the volume route (IPN)


def test_volume_route_blocks_match_the_projection(tmp_path, rng):
    from octaseg.data import BlockSampler
    from octaseg.io import read_blocks_volume, write_blocks_volume
    from octaseg.model_input import load_model_input
    from octaseg.projection import mean_projection, orient, resample_depth, volume_to_label_frame

    volume = rng.integers(0, 50, (40, 24, 36), dtype=np.uint8)  # (scan, depth, x)
    resampled = resample_depth(volume, 8)
    assert resampled.shape == (40, 8, 36)
    np.testing.assert_allclose(resampled[:, 0], volume[:, :3].mean(axis=1), rtol=1e-6)
    assert resample_depth(volume, 7).shape == (40, 7, 36)  # not a divisor: area interpolation
    frame = volume_to_label_frame(resampled, "flipud")
    assert frame.shape == (40, 36, 8)
    np.testing.assert_allclose(frame.mean(axis=2), orient(mean_projection(volume), "flipud"), rtol=1e-5)

    write_blocks_volume(tmp_path / "v.h5", frame)
    back, mean, std = read_blocks_volume(tmp_path / "v.h5")
    assert std == pytest.approx(frame.std(), rel=1e-3)
    np.testing.assert_allclose(back, frame, rtol=1e-3)
    assert mean == pytest.approx(frame.mean(), rel=1e-4)

    # a bimodal volume: columns of the mask are bright at every depth, the others dark
    mask = rng.random((40, 36)) < 0.3
    write_blocks_volume(tmp_path / "v.h5", np.where(mask[..., None], 40.0, 5.0) + rng.random((40, 36, 8)))
    # a second channel, dark where the first is bright (an OCT shadow under vessels)
    write_blocks_volume(tmp_path / "w.h5", np.where(mask[..., None], 5.0, 40.0) + rng.random((40, 36, 8)))
    sampler = BlockSampler([[str(tmp_path / "v.h5"), str(tmp_path / "w.h5")]], [mask], block=16, seed=1)
    x, y = sampler.batch(6)
    assert x.shape == (6, 2, 8, 16, 16) and y.shape == (6, 16, 16)
    # channels and mask turned together: bright (channel 0) / dark (channel 1) columns are the mask
    np.testing.assert_array_equal(x[:, 0].mean(axis=1) > 0, y.astype(bool))
    np.testing.assert_array_equal(x[:, 1].mean(axis=1) < 0, y.astype(bool))
    two_channels = {"input": "volume", "modalities": ["octa", "oct"], "model": {"name": "ipn", "pools": [8]}}
    whole = load_model_input([tmp_path / "v.h5", tmp_path / "w.h5"], two_channels)
    assert whole.shape == (16, 40, 36)
    np.testing.assert_array_equal(whole[:8].mean(axis=0) > 0, mask)
    with pytest.raises(ValueError, match="smaller than block=64"):
        BlockSampler([[str(tmp_path / "v.h5")]], [mask], block=64)


def test_ipn_trains_and_predicts_a_whole_volume(tmp_path, rng):
    from octaseg.data import BlockSampler
    from octaseg.infer import predict_probability
    from octaseg.io import write_blocks_volume

    label = np.zeros((48, 48), bool)
    label[:, 10:14] = label[30:34, :] = True
    frame = rng.normal(1, 0.3, (48, 48, 8)).astype(np.float32)
    frame[label, 3:5] += 3  # vessels at two depths of the block
    write_blocks_volume(tmp_path / "v.h5", frame)
    settings = {
        "model": {"name": "ipn", "channels": 4, "pools": [4, 2]}, "loss": "ce", "lr": 0.01, "epochs": 3,
        "steps_per_epoch": 10, "batch_size": 4, "patch_size": 24, "patience": 5, "seed": 0, "amp": True,
        "device": "cpu", "window": 24, "stride": 12, "predict_batch_size": 8, "lr_step_epochs": 10,
        "lr_gamma": 0.9,
    }  # fmt: skip
    sampler = BlockSampler([[str(tmp_path / "v.h5")]], [label], block=24, seed=0)
    whole = np.moveaxis((frame - frame.mean()) / frame.std(), -1, 0)  # (depth, H, W)
    history = fit(sampler, [whole], [label], settings, tmp_path / "out")
    assert max(h["val_dice"] for h in history) > 0.5
    model = model_from_checkpoint(load_checkpoint(tmp_path / "out" / "best.pt"))
    prob = predict_probability(model, whole, window=24, stride=12)
    assert prob.shape == (48, 48)
