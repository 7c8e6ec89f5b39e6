"""The `octaseg` command: synth -> ingest -> project -> evaluate, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd

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
