"""The figure functions of octaseg.viz on small hand-made arrays: binned ROC / PR curves
against scikit-learn, exact error-overlay colours, and readable PNG files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from octaseg.viz import (
    DIM_LEVEL,
    FN_COLOR,
    FP_COLOR,
    TP_COLOR,
    binned_curves,
    dice_comparison,
    error_overlay,
    pixel_histograms,
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


# --------------------------------------------------------------------------- curves


def test_histograms_count_each_pixel_once_in_its_bin():
    prob = np.array([[0.0, 0.05, 0.1], [0.55, 0.99, 1.0]])
    label = np.array([[0, 1, 0], [1, 0, 1]], bool)
    counts = pixel_histograms(prob, label, bins=10)
    assert counts.shape == (2, 10)
    assert counts[0].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]  # 0.0, 0.1, 0.99
    assert counts[1].tolist() == [1, 0, 0, 0, 0, 1, 0, 0, 0, 1]  # 0.05, 0.55, 1.0 (in the last bin)


def test_curves_match_sklearn_exactly_when_values_fall_in_distinct_bins(rng):
    # values at bin centres: each distinct value gets its own bin, so nothing is approximate
    label = rng.random(500) < 0.3
    prob = (np.minimum(rng.integers(0, 20, label.size) + 6 * label, 19) + 0.5) / 20
    curves = binned_curves(pixel_histograms(prob.reshape(20, 25), label.reshape(20, 25), bins=20))
    assert curves.auc_roc == pytest.approx(roc_auc_score(label, prob), abs=1e-12)
    assert curves.average_precision == pytest.approx(average_precision_score(label, prob), abs=1e-12)
    # every point sklearn finds lies on the binned curve
    fpr, tpr, _ = roc_curve(label, prob)
    ours = set(zip(np.round(curves.fpr, 12), np.round(curves.tpr, 12), strict=True))
    assert set(zip(np.round(fpr, 12), np.round(tpr, 12), strict=True)) <= ours
    precision, recall, _ = precision_recall_curve(label, prob)
    ours = set(zip(np.round(curves.recall, 12), np.round(curves.precision, 12), strict=True))
    assert set(zip(np.round(recall, 12), np.round(precision, 12), strict=True)) <= ours


def test_pooled_curves_match_sklearn_within_binning_tolerance(case, rng):
    prob, label = case
    prob2, label2 = rng.random((30, 30)), rng.random((30, 30)) < 0.1
    pooled = pixel_histograms(prob, label) + pixel_histograms(prob2, label2)
    curves = binned_curves(pooled)
    all_prob = np.r_[prob.ravel(), prob2.ravel()]
    all_label = np.r_[label.ravel(), label2.ravel()]
    assert curves.auc_roc == pytest.approx(roc_auc_score(all_label, all_prob), abs=2e-3)
    assert curves.average_precision == pytest.approx(average_precision_score(all_label, all_prob), abs=5e-3)
    assert curves.prevalence == pytest.approx(all_label.mean())
    # the curves run from everything predicted vessel to nothing
    assert (curves.fpr[0], curves.tpr[0], curves.fpr[-1], curves.tpr[-1]) == (1, 1, 0, 0)
    assert curves.thresholds[0] == 0 and curves.thresholds[-1] == 1
    assert np.all(np.diff(curves.fpr) <= 0) and np.all(np.diff(curves.tpr) <= 0)


def test_perfect_and_inverted_rankings():
    label = np.array([[0, 0, 1, 1]], bool)
    perfect = binned_curves(pixel_histograms(np.array([[0.1, 0.2, 0.8, 0.9]]), label))
    assert perfect.auc_roc == 1 and perfect.average_precision == 1
    inverted = binned_curves(pixel_histograms(np.array([[0.9, 0.8, 0.2, 0.1]]), label))
    assert inverted.auc_roc == 0
    tied = binned_curves(pixel_histograms(np.full((1, 4), 0.5), label))
    assert tied.auc_roc == 0.5 and tied.average_precision == 0.5


def test_curve_errors_echo_the_bad_input():
    with pytest.raises(ValueError, match=r"probability \(3, 4\), label \(4, 3\)"):
        pixel_histograms(np.zeros((3, 4)), np.zeros((4, 3), bool))
    with pytest.raises(ValueError, match=r"from -0\.5 to 1\.0"):
        pixel_histograms(np.array([[-0.5, 1.0]]), np.array([[0, 1]], bool))
    with pytest.raises(ValueError, match="1 NaN"):
        pixel_histograms(np.array([[np.nan, 1.0]]), np.array([[0, 1]], bool))
    with pytest.raises(ValueError, match="bins=0"):
        pixel_histograms(np.zeros((2, 2)), np.zeros((2, 2), bool), bins=0)
    with pytest.raises(ValueError, match=r"0 vessel, 4 background"):
        binned_curves(pixel_histograms(np.zeros((2, 2)), np.zeros((2, 2), bool)))
    with pytest.raises(ValueError, match=r"shape \(3, 10\)"):
        binned_curves(np.zeros((3, 10)))


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
