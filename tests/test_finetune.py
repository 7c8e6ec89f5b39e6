"""Fine-tuning: a training started from a checkpoint's weights (init_from), refused for a
model of another shape, from the shipped model, and with its encoder frozen for the first
epochs, also across a resume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from train_job import SETTINGS, data

from octaseg.checkpoints import export_checkpoint, load, save_checkpoint, shipped_weights
from octaseg.data import PatchSampler
from octaseg.finetune import check_fine_tuning, check_init_from, init_resume_key
from octaseg.io import InputError
from octaseg.models import build_model
from octaseg.train import end_epoch, start, train_epoch

SPEC = {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4, "in_channels": 1}
NO_SIGNAL = SimpleNamespace(signal=None)


def _checkpoint(path: Path, spec: dict, seed: int = 1) -> dict[str, torch.Tensor]:
    """A training checkpoint of a model of ``spec`` with weights from ``seed``; returns them."""
    torch.manual_seed(seed)
    params = dict(spec)
    model = build_model(params.pop("name"), **params)
    for weight in model.parameters():  # not what a fresh model of another seed has
        weight.data.add_(0.01 * seed)
    save_checkpoint(path, {"model": model.state_dict(), "model_spec": spec, "settings": {}})
    return {k: v.clone() for k, v in model.state_dict().items()}


def _start(out: Path, **settings):
    images, masks = data(1, 2)
    sampler = PatchSampler(images, masks, 32, seed=0)
    lines: list[str] = []
    state, run = start(sampler, {**SETTINGS, **settings}, out, None, lines.append)
    return state, run, sampler, lines


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_init_from_a_checkpoint_starts_from_its_weights(tmp_path):
    weights = _checkpoint(tmp_path / "best.pt", SPEC)
    state, _, _, lines = _start(tmp_path / "out", init_from=str(tmp_path / "best.pt"))
    assert _same(state.model.state_dict(), weights)
    assert state.optimizer.state_dict()["state"] == {} and (state.epoch, state.step) == (1, 0)
    assert any(line.startswith(f"weights from init_from {tmp_path / 'best.pt'}") for line in lines)
    scratch, *_ = _start(tmp_path / "scratch")
    assert not _same(scratch.model.state_dict(), weights)


def test_init_from_an_exported_checkpoint_and_shipped(tmp_path, monkeypatch):
    """An exported checkpoint's float16 weights come back as float32; `shipped` is the file
    $OCTASEG_WEIGHTS names, else the package's model."""
    weights = _checkpoint(tmp_path / "best.pt", SPEC)
    exported = export_checkpoint(load(tmp_path / "best.pt"), {"experiment": "test"})
    save_checkpoint(tmp_path / "exported.pt", exported)
    halved = {k: v.half().float() if v.is_floating_point() else v for k, v in weights.items()}
    state, *_ = _start(tmp_path / "a", init_from=str(tmp_path / "exported.pt"))
    assert _same(state.model.state_dict(), halved)
    monkeypatch.setenv("OCTASEG_WEIGHTS", str(tmp_path / "exported.pt"))
    state, *_ = _start(tmp_path / "b", init_from="shipped")
    assert _same(state.model.state_dict(), halved)

    monkeypatch.delenv("OCTASEG_WEIGHTS")
    package = load(shipped_weights())
    state, *_ = _start(tmp_path / "c", init_from="shipped", model=dict(package["model_spec"]))
    assert _same(state.model.state_dict(), package["model"])


def test_init_from_another_model_is_refused_naming_both(tmp_path):
    _checkpoint(tmp_path / "wide.pt", {**SPEC, "base": 8})
    with pytest.raises(InputError) as err:
        _start(tmp_path / "out", init_from=str(tmp_path / "wide.pt"))
    message = str(err.value)
    assert f"init_from {tmp_path / 'wide.pt'}" in message
    assert "'base': 8" in message and "'base': 4" in message  # the checkpoint's model and the experiment's
    assert "down.0.0.weight (8, 1, 3, 3) instead of (4, 1, 3, 3)" in message  # both shapes
    _checkpoint(tmp_path / "ipn.pt", {"name": "ipn", "channels": 4, "pools": [4, 2], "in_channels": 1})
    with pytest.raises(InputError, match=r"'name': 'ipn'.*missing down\.0\.0\.weight"):
        _start(tmp_path / "out", init_from=str(tmp_path / "ipn.pt"))
    with pytest.raises(InputError, match=r"init_from: nowhere\.pt: no such file .*working directory"):
        _start(tmp_path / "out", init_from="nowhere.pt")


def _encoder_decoder(model: torch.nn.Module) -> tuple[dict, dict]:
    encoder = {k: v.detach().clone() for k, v in model.named_parameters() if k.startswith(("down", "bottom"))}
    decoder = {k: v.detach().clone() for k, v in model.named_parameters() if k not in encoder}
    return encoder, decoder


def test_freeze_encoder_then_unfreeze_also_on_resume(tmp_path):
    _checkpoint(tmp_path / "best.pt", SPEC)
    settings = {"init_from": str(tmp_path / "best.pt"), "freeze_encoder_epochs": 1, "epochs": 2}
    settings["steps_per_epoch"] = 3
    state, run, sampler, lines = _start(tmp_path / "out", **settings)
    encoder, decoder = _encoder_decoder(state.model)
    assert not any(w.requires_grad for k, w in state.model.named_parameters() if k in encoder)
    assert all(w.requires_grad for k, w in state.model.named_parameters() if k in decoder)
    timing = train_epoch(state, run, sampler, NO_SIGNAL)
    after = _encoder_decoder(state.model)
    assert _same(after[0], encoder) and not _same(after[1], decoder)  # only the decoder trained
    state.save(tmp_path / "mid.pt")  # as a SIGTERM after epoch 1's last step leaves it
    end_epoch(state, run, timing, *data(2, 1))  # last.pt: epoch 1 done
    train_epoch(state, run, sampler, NO_SIGNAL)
    assert all(w.requires_grad for w in state.model.parameters())
    assert not _same(_encoder_decoder(state.model)[0], encoder)  # now the encoder trains too
    assert any("frozen up to epoch 1" in line for line in lines)

    resumed, *_ = _start(tmp_path / "out", **settings)  # last.pt: on with epoch 2, all trainable
    assert resumed.epoch == 2 and all(w.requires_grad for w in resumed.model.parameters())
    (tmp_path / "mid.pt").replace(tmp_path / "out" / "last.pt")
    resumed, *_ = _start(tmp_path / "out", **settings)  # in epoch 1: frozen again
    assert resumed.epoch == 1 and not any(w.requires_grad for w in resumed.model.down.parameters())


def test_a_run_from_other_init_weights_is_not_resumed(tmp_path):
    _checkpoint(tmp_path / "best.pt", SPEC, seed=1)
    settings = {"init_from": str(tmp_path / "best.pt")}
    key = init_resume_key(["train"], settings)
    assert key["data"] == ["train"] and len(key["init"]["sha256"]) == 64
    assert init_resume_key(["train"], {"init_from": None}) == ["train"]
    state, *_ = _start(tmp_path / "out", **settings)
    state.step = 1
    state.save(tmp_path / "out" / "last.pt")
    assert _start(tmp_path / "out", **settings)[0].step == 1  # same weights: resumed
    _checkpoint(tmp_path / "best.pt", SPEC, seed=2)  # other weights under the same name
    state, _, _, lines = _start(tmp_path / "out", **settings)
    assert state.step == 0 and any("starting afresh" in line for line in lines)


def test_freeze_encoder_is_refused_without_init_from_or_an_encoder():
    unet = {"model": {"name": "unet"}, "freeze_encoder_epochs": 2}
    with pytest.raises(ValueError, match=r"experiments\.x: freeze_encoder_epochs: 2 .*init_from is null"):
        check_fine_tuning(unet, "experiments.x")
    ipn = {"model": {"name": "ipn"}, "freeze_encoder_epochs": 2, "init_from": "a.pt"}
    with pytest.raises(ValueError, match=r"model ipn has no encoder to freeze; it is defined for unet"):
        check_fine_tuning(ipn, "experiments.x")
    check_fine_tuning({**unet, "init_from": "a.pt"}, "experiments.x")
    check_fine_tuning({"model": {"name": "ipn"}, "freeze_encoder_epochs": 0}, "experiments.x")


def test_init_from_is_checked_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_init_from("results/a/best.pt", "experiments.b", made_here=["results/a/best.pt"])  # still to come
    with pytest.raises(InputError, match=r"experiments\.b: init_from: results/a/best\.pt: no such file"):
        check_init_from("results/a/best.pt", "experiments.b")
    with pytest.raises(ValueError, match=r"init_from: results/a/best\.pt is the experiment.s own"):
        check_init_from("results/a/best.pt", "experiments.a", own=["results/a/best.pt"])
    monkeypatch.setenv("OCTASEG_WEIGHTS", str(tmp_path / "missing.pt"))
    with pytest.raises(InputError, match=r"b: init_from: shipped: \$OCTASEG_WEIGHTS=.*: no such file"):
        check_init_from("shipped", "experiments.b")
