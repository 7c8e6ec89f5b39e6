"""The `octaseg` command: synth -> ingest -> project -> evaluate, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import FULL

from octaseg.io import read_image, read_volume
from octaseg.projection import mean_projection, orient


def octaseg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "octaseg.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_synth_ingest_project_evaluate(tmp_path):
    root = tmp_path / "data"
    done = octaseg(
        "synth", str(root), "--ids", "10001-10002", "--scans", "64", "--depth", "96", "--width", "64"
    )
    assert done.returncode == 0, done.stderr
    folder = root / "OCTA_6mm" / "OCTA" / "10001"
    assert len(list(folder.glob("*.bmp"))) == 64

    h5 = tmp_path / "10001.h5"
    done = octaseg("ingest", str(folder), str(h5), "--expect-scans", "64")
    assert done.returncode == 0, done.stderr
    assert read_volume(h5).shape == (64, 96, 64)

    tif = tmp_path / "10001.tif"
    assert octaseg("project", str(h5), str(tif)).returncode == 0
    np.testing.assert_array_equal(read_image(tif), orient(mean_projection(read_volume(h5)), "flipud"))

    # evaluate the labels against themselves and against an empty prediction
    labels = root / "Label" / "GT_LargeVessel"
    pred = tmp_path / "pred"
    pred.mkdir()
    cv2.imwrite(str(pred / "10001.png"), read_image(labels / "10001.bmp"))
    cv2.imwrite(str(pred / "10002_mask.png"), np.zeros((64, 64), np.uint8))
    out = tmp_path / "metrics.csv"
    done = octaseg("evaluate", "--pred", str(pred), "--truth", str(labels), "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert table["subject"].tolist() == [10001, 10002]
    assert table["dice"].tolist() == [1.0, 0.0]


def test_errors_name_the_problem(tmp_path):
    done = octaseg("ingest", str(tmp_path / "nope"), str(tmp_path / "x.h5"))
    assert done.returncode == 1
    assert "nope: expected a folder of B-scan BMPs" in done.stderr
    assert not (tmp_path / "x.h5").exists()


@pytest.mark.workflow
def test_predict_reproduces_the_workflow(run, tmp_path):
    """`octaseg predict` on a projection, or on ingested volumes, gives what the workflow's
    predict rule gave: the checkpoint carries its preprocessing and prediction settings."""
    res = run / "results"
    ckpt = str(res / "direct_ce" / "best.pt")
    done = octaseg("predict", "--checkpoint", ckpt, "--input", str(res / FULL / "10005.tif"),
                   str(res / FULL / "10006.tif"), "--out", str(tmp_path / "a"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "stores no test-time augmentation" in done.stderr  # a best.pt has none; we say so
    for i in ["10005", "10006"]:
        np.testing.assert_allclose(
            read_image(tmp_path / "a" / "probability" / f"{i}.tif"),
            read_image(res / "direct_ce" / "probability" / f"{i}.tif"),
            atol=1e-6,
        )
        np.testing.assert_array_equal(
            read_image(tmp_path / "a" / "masks" / f"{i}.png"),
            read_image(res / "direct_ce" / "masks" / f"{i}.png"),
        )
    # from the ingested volume: projected and turned (flipud, the 6mm default) on the way
    done = octaseg("predict", "--checkpoint", ckpt, "--input", str(res / "volumes" / "10005.h5"),
                   "--out", str(tmp_path / "b"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(
        read_image(tmp_path / "b" / "probability" / "10005.tif"),
        read_image(res / "direct_ce" / "probability" / "10005.tif"),
        atol=1e-5,
    )
    # the IPN from the two raw volumes (OCTA, OCT), resampled and turned here
    channels = f"{res / 'volumes' / '10005.h5'},{res / 'volumes_oct' / '10005.h5'}"
    done = octaseg("predict", "--checkpoint", str(res / "ipn" / "best.pt"), "--input", channels,
                   "--out", str(tmp_path / "c"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    ours = read_image(tmp_path / "c" / "masks" / "10005.png") > 0
    workflow = read_image(res / "ipn" / "masks" / "10005.png") > 0
    assert (ours == workflow).mean() > 0.99  # float16 blocks in the workflow, float32 here


@pytest.mark.workflow
def test_predict_errors_name_the_file(run, tmp_path):
    import torch

    res = run / "results"
    image = str(res / FULL / "10005.tif")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    done = octaseg(
        "predict", "--checkpoint", str(tmp_path / "other.pt"), "--input", image, "--out", str(tmp_path)
    )
    assert done.returncode == 1 and "other.pt: expected an octaseg checkpoint" in done.stderr
    torch.save(
        {"model_spec": {"name": "unet"}, "settings": {}, "model": np.arange(3)}, tmp_path / "pickle.pt"
    )
    done = octaseg(
        "predict", "--checkpoint", str(tmp_path / "pickle.pt"), "--input", image, "--out", str(tmp_path)
    )
    assert done.returncode == 1 and "cannot load safely" in done.stderr  # weights_only refuses pickles
    done = octaseg(
        "predict", "--checkpoint", str(res / "ipn" / "best.pt"), "--input", image, "--out", str(tmp_path)
    )
    assert done.returncode == 1 and "10005.tif" in done.stderr and "2 volume channel(s)" in done.stderr
    assert not (tmp_path / "masks").exists()
