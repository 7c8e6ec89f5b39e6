"""Realism statistics on hand-made data, and the synth-report command on a generated dataset."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest

from octaseg import realism


def test_label_stats_hand_made():
    label = np.zeros((100, 100), np.uint8)
    label[20:25, 10:90] = 255  # a 5 px wide vessel
    label[60:62, 10:90] = 255  # a 2 px wide one
    stats = realism.label_stats(label)
    assert stats["label_fraction"] == pytest.approx((5 * 80 + 2 * 80) / 100**2)
    assert stats["max_width_px"] == 5
    assert 3.0 < stats["mean_width_px"] < 4.0  # 560 px over ~160 px of skeleton
    assert realism.label_stats(np.zeros((8, 8)))["mean_width_px"] == 0


def test_volume_stats_hand_made():
    octa = np.zeros((4, 10, 6), np.uint8)
    octa[:, 3:5, :] = 50  # signal in 2 of 10 rows
    octa[0, 3, 0] = 80
    stats = realism.volume_stats(octa)
    assert stats["octa_max"] == 80
    assert stats["signal_rows_fraction"] == pytest.approx(0.2)
    assert stats["zero_fraction"] == pytest.approx(0.8)
    assert stats["octa_mean"] == pytest.approx(octa.mean())


def test_frangi_baseline_finds_a_bright_line(rng):
    image = rng.normal(0, 0.2, (96, 96))
    label = np.zeros((96, 96), bool)
    label[46:51, 8:88] = True
    image[label] += 3
    assert realism.frangi_dice(image, label) > 0.6
    assert not realism.frangi_otsu(np.zeros((32, 32))).any()


def test_out_of_band_and_summary():
    good = {"octa_mean": 1.9, "label_fraction": 0.09, "frangi_dice": 0.75}
    assert realism.out_of_band(good) == {}
    assert realism.out_of_band({**good, "frangi_dice": 0.95}) == {"frangi_dice": 0.95}
    text = realism.summarize_stats([{"subject": 1, **good}, {"subject": 2, **good, "frangi_dice": 0.95}])
    line = next(x for x in text.splitlines() if x.startswith("frangi_dice"))
    assert "OUT OF BAND" in line
    assert "OUT OF BAND" not in next(x for x in text.splitlines() if x.startswith("octa_mean"))


def test_synth_report_command(tmp_path):
    root = tmp_path / "data"
    run = [sys.executable, "-m", "octaseg.cli"]
    small = ["--scans", "64", "--depth", "96", "--width", "64"]
    subprocess.run([*run, "synth", str(root), "--ids", "10001-10002", *small], check=True, timeout=120)
    out = tmp_path / "realism.csv"
    done = subprocess.run(
        [*run, "synth-report", str(root), "--out", str(out)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "frangi_dice" in done.stdout and "summary:" in done.stdout
    table = pd.read_csv(out)
    assert table["subject"].tolist() == [10001, 10002]
    assert set(realism.TARGETS) <= set(table.columns)
    # an empty label is far from OCTA-500's 6-13%: --check names the subject and fails
    cv2.imwrite(str(root / "Label" / "GT_LargeVessel" / "10002.bmp"), np.zeros((64, 64), np.uint8))
    done = subprocess.run([*run, "synth-report", str(root), "--check"], capture_output=True, text=True)
    assert done.returncode == 1 and "out of the OCTA-500 bands" in done.stderr
    assert "10002" in done.stderr.split("bands:")[1]
