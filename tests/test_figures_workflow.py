"""The figures of the tiny workflow run: every subject figure, ROC / PR figure and the Dice
comparison exists as a real PNG of a sensible size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import EXPERIMENTS, METHODS

TEST_IDS = [10005, 10006]


def read_png(path) -> np.ndarray:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.mark.workflow
@pytest.mark.parametrize("method", METHODS)
def test_subject_figures(run, method):
    folder = run / "results" / method / "figures"
    assert sorted(p.name for p in folder.iterdir()) == [f"{i}.png" for i in TEST_IDS]  # no temp files
    for i in TEST_IDS:
        image = read_png(folder / f"{i}.png")
        height, width = image.shape[:2]
        assert 300 <= height <= 600 and 1200 <= width <= 2000, (method, i, image.shape)
        assert image.std() > 10  # not blank
    assert (run / "logs" / "figures" / f"{method}.log").read_text().count("Dice") == len(TEST_IDS)


@pytest.mark.workflow
@pytest.mark.parametrize("exp", EXPERIMENTS)
def test_roc_pr_figures(run, exp):
    image = read_png(run / "results" / exp / "roc_pr.png")
    assert 350 <= image.shape[0] <= 800 and 800 <= image.shape[1] <= 1400, image.shape
    assert "AUC-ROC" in (run / "logs" / "roc_pr" / f"{exp}.log").read_text()
    assert not (run / "results" / "frangi_otsu" / "roc_pr.png").exists()  # the baseline has no probabilities


@pytest.mark.workflow
def test_dice_comparison_figure(run):
    image = read_png(run / "results" / "figures" / "dice_comparison.png")
    assert 350 <= image.shape[0] <= 800 and 500 <= image.shape[1] <= 1400, image.shape
    log = (run / "logs" / "dice_comparison.log").read_text()
    assert all(method in log for method in METHODS)
