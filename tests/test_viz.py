"""The figure functions of octaseg.viz on small hand-made arrays: exact error-overlay
colours and readable PNG files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from octaseg.metrics import pixel_histograms
from octaseg.viz import (
    DIM_LEVEL,
    FN_COLOR,
    FP_COLOR,
    TP_COLOR,
    dice_comparison,
    error_overlay,
    roc_pr_figure,
    subject_figure,
)


def read_png(path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(str(path))
    assert image is not None
    return image


@pytest.fixture
def case(rng) -> tuple[np.ndarray, np.ndarray]:
    """A 40x50 label with a noisy probability map that ranks vessels mostly higher."""
    label = rng.random((40, 50)) < 0.2
    prob = np.clip(0.35 * label + rng.normal(0.35, 0.2, label.shape), 0, 1)
    return prob, label


# --------------------------------------------------------------------------- error overlay


def test_error_overlay_colours_on_black():
    mask = np.array([[1, 1, 0, 0]], bool)
    label = np.array([[1, 0, 1, 0]], bool)
    rgb = error_overlay(mask, label)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert [tuple(p) for p in rgb[0]] == [TP_COLOR, FP_COLOR, FN_COLOR, (0, 0, 0)]
    assert len({TP_COLOR, FP_COLOR, FN_COLOR, (0, 0, 0)}) == 4


def test_error_overlay_over_dimmed_input_keeps_error_colours():
    mask = np.array([[1, 1, 0, 0, 0, 0]], bool)
    label = np.array([[1, 0, 1, 0, 0, 0]], bool)
    background = np.array([[5.0, 5.0, 5.0, 0.0, 2.0, 10.0]])
    rgb = error_overlay(mask, label, background)
    assert [tuple(p) for p in rgb[0, :3]] == [TP_COLOR, FP_COLOR, FN_COLOR]
    grey = rgb[0, 3:]
    assert (grey == grey[:, :1]).all()  # true negatives stay grey
    assert grey[0, 0] < grey[1, 0] < grey[2, 0] <= DIM_LEVEL  # brighter input, brighter grey, dimmed


def test_error_overlay_shape_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"mask \(2, 2\), label \(2, 3\)"):
        error_overlay(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"background \(3, 3\)"):
        error_overlay(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((3, 3)))


# --------------------------------------------------------------------------- figure files


def test_subject_figure_written_with_and_without_probability(tmp_path, case):
    prob, label = case
    mask = prob >= 0.5
    for name, p in [("model.png", prob), ("baseline.png", None)]:
        score = subject_figure(tmp_path / name, prob * 100, p, mask, label, "10005: test")
        expected = 2 * np.count_nonzero(mask & label) / (np.count_nonzero(mask) + np.count_nonzero(label))
        assert score == pytest.approx(expected)
        image = read_png(tmp_path / name)
        assert image.shape[0] >= 300 and image.shape[1] >= 1200
    assert sorted(p.name for p in tmp_path.iterdir()) == ["baseline.png", "model.png"]  # no leftovers


def test_subject_figure_shape_mismatch_names_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"image \(4, 4\), probability \(4, 4\), mask \(4, 5\)"):
        subject_figure(
            tmp_path / "x.png", np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4))
        )
    assert not list(tmp_path.iterdir())


def test_roc_pr_figure_written_and_returns_pooled_curves(tmp_path, case):
    prob, label = case
    empty = pixel_histograms(np.zeros((5, 5)), np.zeros((5, 5), bool))  # no vessels: no own curve
    histograms = [pixel_histograms(prob, label), pixel_histograms(prob[::-1], label[::-1]), empty]
    curves = roc_pr_figure(tmp_path / "roc_pr.png", [1, 2, 3], histograms, "test")
    assert curves.auc_roc == pytest.approx(roc_auc_score(label.ravel(), prob.ravel()), abs=2e-3)
    image = read_png(tmp_path / "roc_pr.png")
    assert image.shape[0] >= 300 and image.shape[1] >= 700
    with pytest.raises(ValueError, match="2 subjects and 3 histograms"):
        roc_pr_figure(tmp_path / "bad.png", [1, 2], histograms)
    with pytest.raises(ValueError, match=r"\(2, 10\)"):
        roc_pr_figure(tmp_path / "bad.png", [1, 2], [np.ones((2, 10)), np.ones((2, 20))])


def test_dice_comparison_written(tmp_path):
    dice_comparison(tmp_path / "dice.png", {"a": [0.7, 0.8, 0.75], "b": [0.5], "frangi_otsu": [0.3, 0.4]})
    image = read_png(tmp_path / "dice.png")
    assert image.shape[0] >= 300 and image.shape[1] >= 400
    with pytest.raises(ValueError, match="method"):
        dice_comparison(tmp_path / "bad.png", {})
    with pytest.raises(ValueError, match="b"):
        dice_comparison(tmp_path / "bad.png", {"a": [0.5], "b": []})
