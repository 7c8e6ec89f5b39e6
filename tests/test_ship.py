"""The model shipped with the package: the rule ship exports an experiment's best.pt
(float16 weights, settings, threshold, provenance) from a maps-only synthetic dataset,
and `octaseg predict` uses it when no --checkpoint is given."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import job_counts
from conftest import run_snakemake as snakemake

from octaseg import __version__, checkpoints
from octaseg.checkpoints import load_checkpoint, model_from_checkpoint
from octaseg.cli import main as cli
from octaseg.infer import predict_with_settings
from octaseg.io import read_image
from octaseg.model_input import load_model_input
from octaseg.models import build_model

DATA = Path("resources/synthetic")
MAP = "OCTA(ILM_OPL)"
#: On top of tests/tiny_config.yaml: its subjects as maps only, one of them rendered as the
#: 3mm field at its full geometry, one tiny experiment to ship.
SHIP_CONFIG = """\
source: maps
baseline: false
synthetic: {{maps_only: true, other_fov: {{fov: 3mm, ids: "10002"}}}}
train_defaults:
  channels: ["OCTA(ILM_OPL)"]
  epochs: 2
  steps_per_epoch: 3
  batch_size: 4
  augment: {{noise: 0.2, brightness_field: 0.3}}
  threshold: val
  tta: flips
experiments:
  direct_ce: false
  direct_iou: false
  equalized_ce: false
  ilm_opl_ce: false
  maps_ce: false
  ipn: false
  two_channels: false
  tiny: null
ship: tiny
ship_to: {ship_to}
"""


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> tuple[Path, Path]:
    """A work folder in which `snakemake ship` ran on the tiny maps-only config, and the
    exported model it wrote (into the work folder: never into the package)."""
    base = tmp_path_factory.mktemp("ship")
    work, weights = base / "work", base / "weights" / "synthetic_unet.pt"
    work.mkdir()
    config = base / "ship.yaml"
    config.write_text(SHIP_CONFIG.format(ship_to=weights))
    done = snakemake(work, "ship", configs=(config,), timeout=900)
    assert done.returncode == 0, done.stderr[-5000:]
    return work, weights


def _val_map(work: Path) -> Path:
    return work / DATA / "OCTA_6mm" / "Projection Maps" / MAP / "10004.bmp"


@pytest.mark.workflow
def test_ship_exports_a_small_model_with_its_provenance(shipped):
    work, weights = shipped
    assert weights.is_file() and weights.stat().st_size < 10_000_000
    assert not list(weights.parent.glob("*.tmp*")) and len(list(weights.parent.iterdir())) == 1
    # maps only: no B-scan folders or layer surfaces were written, no test subject either
    data = work / DATA
    assert not (data / "OCTA_6mm" / "OCTA").exists() and not (data / "Label" / "GT_Layers").exists()
    labels = sorted(p.name for p in (data / "Label" / "GT_LargeVessel").iterdir())
    assert labels == [f"{i}.bmp" for i in range(10001, 10005)]
    # synthetic.other_fov: subject 10002 is a full-size 3mm field among the tiny 6mm ones,
    # in the dataset's layout, and the model trained on both
    maps = data / "OCTA_6mm" / "Projection Maps" / MAP
    assert read_image(maps / "10002.bmp").shape == (304, 304)
    assert read_image(maps / "10001.bmp").shape == (64, 64)
    exported = torch.load(weights, weights_only=True)
    best = load_checkpoint(work / "results" / "tiny" / "best.pt")
    assert set(exported) == {"format", "model", "model_spec", "settings", "threshold", "octaseg_version",
                             "provenance"}  # fmt: skip
    assert {v.dtype for v in exported["model"].values() if v.is_floating_point()} == {torch.float16}
    assert exported["model_spec"] == best["model_spec"]
    assert exported["threshold"] == best["threshold"]
    # the experiment's prediction settings too, which best.pt leaves out
    assert exported["settings"] == {**best["settings"], "tta": "flips", "predict_batch_size": 64}
    about = exported["provenance"]
    assert about["experiment"] == "tiny" and about["generator"] == f"octaseg {__version__}"
    assert about["data"] == {
        "kind": "synthetic",
        "seed": 0,
        "ids": "10001-10006",
        "split": {"train": "10001-10003", "val": "10004", "test": "10005-10006"},
        "fov": "6mm",
        "geometry": [64, 96, 64],
        "maps_only": True,
        "other_fov": {"fov": "3mm", "ids": "10002"},
    }
    assert about["training"] == {
        "epochs": 2,
        "steps_per_epoch": 3,
        "batch_size": 4,
        "patch_size": 32,
        "best_epoch": best["epoch"],
        "val_dice": best["val_dice"],
    }
    assert about["date"].startswith("20")
    # built when asked, not by `all`; built once
    done = snakemake(work, "ship", "--dry-run", configs=(work.parent / "ship.yaml",))
    assert done.returncode == 0 and "Nothing to be done" in done.stdout + done.stderr, done.stderr
    done = snakemake(work, "--dry-run", configs=(work.parent / "ship.yaml",))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ship" not in job_counts(done.stdout) and "predict" in job_counts(done.stdout)


@pytest.mark.workflow
def test_the_exported_model_predicts_as_best_pt(shipped):
    work, weights = shipped
    best = load_checkpoint(work / "results" / "tiny" / "best.pt")
    exported = checkpoints.load(weights)
    assert {v.dtype for v in exported["model"].values() if v.is_floating_point()} == {torch.float32}
    settings = exported["settings"]
    image = load_model_input([_val_map(work)], settings)
    probs = []
    for ckpt in (best, exported):
        model = model_from_checkpoint(ckpt)
        assert all(p.dtype == torch.float32 for p in model.parameters())
        probs.append(predict_with_settings(model, image, settings, torch.device("cpu")))
    np.testing.assert_allclose(probs[1], probs[0], atol=5e-3)  # float16 rounding of the weights
    threshold = exported["threshold"]
    assert np.mean((probs[0] >= threshold) == (probs[1] >= threshold)) > 0.995


@pytest.mark.workflow
def test_predict_without_checkpoint_uses_the_shipped_model(shipped, tmp_path, monkeypatch, capsys):
    work, weights = shipped
    monkeypatch.setenv(checkpoints.WEIGHTS_ENV, str(weights))
    monkeypatch.chdir(tmp_path)
    assert cli(["predict", "--input", str(_val_map(work))]) == 0  # into ./predictions
    assert f"using {weights}" in capsys.readouterr().err
    mask = read_image(tmp_path / "predictions" / "masks" / "10004.png")
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 255}
    args = ["predict", "--checkpoint", str(weights), "--input", str(_val_map(work)), "--out", "given"]
    assert cli(args) == 0  # --checkpoint as before, also with an exported model
    np.testing.assert_array_equal(read_image(tmp_path / "given" / "masks" / "10004.png"), mask)


def test_predict_without_a_shipped_model_says_how_to_build_it(tmp_path, monkeypatch, capsys):
    image = tmp_path / "10001.png"
    image.write_bytes(b"")  # never read: the model is looked for first
    monkeypatch.delenv(checkpoints.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(checkpoints, "SHIPPED", ("weights", "absent.pt"))
    assert cli(["predict", "--input", str(image), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "no --checkpoint given" in err and "absent.pt" in err and checkpoints.BUILD_COMMAND in err
    monkeypatch.setenv(checkpoints.WEIGHTS_ENV, str(tmp_path / "gone.pt"))
    assert cli(["predict", "--input", str(image), "--out", str(tmp_path / "out")]) == 1
    assert f"$OCTASEG_WEIGHTS={tmp_path / 'gone.pt'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_keeps_what_prediction_needs_under_the_size_limit():
    spec = {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4, "in_channels": 1}
    with torch.random.fork_rng():
        torch.manual_seed(1)
        state = build_model(**spec).state_dict()
    state["head.weight"] *= 30  # an output that varies across the image, not ~0.5 everywhere
    state["bn_like"] = torch.tensor([1e6, 1.0])  # beyond float16: kept as float32
    ckpt = {"model": state, "model_spec": spec, "settings": {"epochs": 3}, "optimizer": {}, "epoch": 2}
    exported = checkpoints.export_checkpoint(ckpt, {"experiment": "x"}, settings={"tta": "d4"})
    assert "optimizer" not in exported and exported["threshold"] == 0.5
    assert exported["settings"] == {"epochs": 3, "tta": "d4"}
    assert exported["model"]["bn_like"].dtype == torch.float32
    assert exported["model"]["down.0.1.num_batches_tracked"].dtype == torch.int64
    assert exported["model"]["down.0.0.weight"].dtype == torch.float16
    assert exported["provenance"]["experiment"] == "x"
    assert exported["provenance"]["training"] == {"epochs": 3, "best_epoch": 2}
    restored = checkpoints.full_precision(exported)["model"]
    assert all(v.dtype == torch.float32 for v in restored.values() if v.is_floating_point())
    # predictions that vary (the tiny workflow's model predicts almost 0.5 everywhere):
    # the float16 copy's are equal up to rounding
    del state["bn_like"], exported["model"]["bn_like"]
    image = np.random.default_rng(0).normal(size=(1, 48, 48)).astype(np.float32)
    probs = [
        predict_with_settings(model_from_checkpoint(c), image, {}, torch.device("cpu"))
        for c in (ckpt, checkpoints.full_precision(exported))
    ]
    assert probs[0].std() > 0.02
    np.testing.assert_allclose(probs[1], probs[0], atol=5e-3)
    half = float(np.median(probs[0]))  # a threshold that splits the image in two
    assert np.mean((probs[0] >= half) == (probs[1] >= half)) > 0.99
    with pytest.raises(ValueError, match=r"over the 0\.0 MB it may take in the package"):
        checkpoints.export_checkpoint(ckpt, {}, max_bytes=1000)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("synthetic: {maps_only: true}\n", r"synthetic\.maps_only: true .* source: bscans"),
        ("ship: null\n", r"ship: null names no experiment to ship"),
    ],
)
def test_contradictory_ship_settings_are_refused_before_anything_runs(tmp_path, extra, message):
    config = tmp_path / "bad.yaml"
    config.write_text(extra)
    done = snakemake(tmp_path, "ship", "--dry-run", configs=(config,))
    assert done.returncode != 0
    assert re.search(message, done.stderr + done.stdout), (done.stderr + done.stdout)[-3000:]
