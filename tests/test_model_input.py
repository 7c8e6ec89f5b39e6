"""What a model reads from files, and an experiment trained from its files into its
outputs (octaseg.model_input, octaseg.data.training_sampler, octaseg.experiment)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from octaseg import config, presets
from octaseg.checkpoints import load_checkpoint
from octaseg.data import BlockSampler, PatchSampler, training_sampler
from octaseg.experiment import Outputs, Split, train_experiment
from octaseg.io import InputError, write_blocks_volume, write_image
from octaseg.model_input import labelled_inputs, load_model_input, per_subject
from octaseg.models import build_model

SETTINGS = {
    "input": "projection",
    "channels": ["OCTA(FULL)", "OCT(ILM_OPL)"],
    "normalize": "zscore",
    "model": {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4},
    "loss": "ce",
    "lr": 0.01,
    "lr_step_epochs": 2,
    "lr_gamma": 0.5,
    "epochs": 2,
    "steps_per_epoch": 3,
    "batch_size": 4,
    "patch_size": 32,
    "patience": 5,
    "seed": 0,
    "amp": False,
    "device": "cpu",
}


def _subjects(folder: Path, ids: list[int], rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Two en-face channels (float32 TIFF) and a 0/255 label per subject, 40 x 48."""
    images, labels = [], []
    for i in ids:
        mask = np.zeros((40, 48), bool)
        mask[:, rng.integers(0, 44) :][:, :3] = True
        for channel, sign in (("octa", 1), ("oct", -1)):
            path = folder / channel / f"{i}.tif"
            write_image(path, (sign * mask + rng.normal(0, 0.3, mask.shape)).astype(np.float32))
            images.append(str(path))
        write_image(folder / "labels" / f"{i}.bmp", np.where(mask, 255, 0).astype(np.uint8))
        labels.append(str(folder / "labels" / f"{i}.bmp"))
    return images, labels


def test_per_subject_groups_a_flat_list_and_names_a_bad_one():
    assert per_subject(["a1", "a2", "b1", "b2"], 2) == [["a1", "a2"], ["b1", "b2"]]
    assert per_subject(["a", "b"], 2) == [["a"], ["b"]]
    with pytest.raises(ValueError, match=r"each of 2 subject\(s\), found 3 files: a1, a2, b1"):
        per_subject(["a1", "a2", "b1"], 2)


def test_labelled_inputs_and_the_sampler_read_as_prediction_does(tmp_path, rng):
    images, labels = _subjects(tmp_path, [1, 2], rng)
    xs, ys = labelled_inputs(images, labels, SETTINGS)
    assert [x.shape for x in xs] == [(2, 40, 48)] * 2 and [y.dtype for y in ys] == [bool] * 2
    np.testing.assert_array_equal(xs[1], load_model_input(images[2:], SETTINGS))
    sampler = training_sampler(images, labels, SETTINGS)
    assert isinstance(sampler, PatchSampler) and sampler.channels == 2
    x, y = sampler.batch(3)
    assert x.shape == (3, 2, 32, 32) and y.shape == (3, 32, 32)
    with pytest.raises(InputError, match=r"2 en-face channel\(s\) .* found 1 file"):
        load_model_input(images[:1], SETTINGS)
    with pytest.raises(ValueError, match="expected the same number of files"):
        labelled_inputs(images[:3], labels, SETTINGS)


def test_volume_training_sampler_reads_blocks(tmp_path, rng):
    mask = rng.random((40, 36)) < 0.3
    write_blocks_volume(tmp_path / "v.h5", np.where(mask[..., None], 40.0, 5.0) + rng.random((40, 36, 8)))
    write_image(tmp_path / "label.bmp", np.where(mask, 255, 0).astype(np.uint8))
    settings = {"input": "volume", "model": {"name": "ipn", "pools": [4, 2]}, "patch_size": 16, "seed": 1}
    sampler = training_sampler([str(tmp_path / "v.h5")], [str(tmp_path / "label.bmp")], settings)
    assert isinstance(sampler, BlockSampler)
    assert sampler.batch(2)[0].shape == (2, 1, 8, 16, 16)


def test_block_depth_has_one_source():
    """The workflow's block depth (config, presets) is the depth the IPN takes (models)."""
    for model in ({"name": "ipn", "preset": "seed"}, {"name": "ipn", "pools": [4, 2, 2]}):
        spec = {k: v for k, v in model.items() if k != "name"}
        depth = build_model("ipn", **spec).depth
        assert presets.block_depth(model) == config.block_depth({"model": model}) == depth
    assert presets.block_depth({"name": "ipn", "preset": "seed"}) == 160
    with pytest.raises(ValueError, match=r"needs model ipn with preset seed or pools, got \{'name': 'unet'"):
        config.block_depth({"model": {"name": "unet", "preset": "seed"}})


def test_train_experiment_trains_from_files_into_its_outputs(tmp_path, rng):
    train_images, train_labels = _subjects(tmp_path / "data", [1, 2, 3], rng)
    val_images, val_labels = _subjects(tmp_path / "data", [4], rng)
    out = tmp_path / "results"
    outputs = Outputs(out / "best.pt", out / "last.pt", out / "history.csv", out / "curve.png")
    out.mkdir()
    lines: list[str] = []
    history = train_experiment(
        "tiny", Split(train_images, train_labels), Split(val_images, val_labels), SETTINGS, outputs,
        out / "resume", log=lines.append,
    )  # fmt: skip
    assert [row["epoch"] for row in history] == [1, 2]
    assert all(Path(p).is_file() for p in (outputs.best, outputs.last, outputs.history, outputs.curve))
    assert not any((out / "resume").glob("*.pt"))  # moved into place
    assert lines[-1] == f"moved the finished run from {out / 'resume'} into place"
    last = load_checkpoint(outputs.last)
    assert last["finished"] and last["resume_key"] == {"train": train_images, "val": val_images}
    assert load_checkpoint(outputs.best)["model_spec"]["in_channels"] == 2
