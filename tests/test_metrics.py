"""Every metric against scikit-learn on random masks, and defined values on edge cases;
the binned ROC / PR curves against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from octaseg import metrics
from octaseg.metrics import binned_curves, pixel_histograms


@pytest.mark.parametrize("density", [0.05, 0.3, 0.7])
def test_against_sklearn(rng, density):
    for _ in range(5):
        target = rng.random((40, 30)) < density
        pred = rng.random((40, 30)) < density
        t, p = target.ravel(), pred.ravel()
        got = metrics.score(pred, target)
        assert got["dice"] == pytest.approx(skm.f1_score(t, p))
        assert got["iou"] == pytest.approx(skm.jaccard_score(t, p))
        assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(t, p))
        assert got["sensitivity"] == pytest.approx(skm.recall_score(t, p))
        assert got["specificity"] == pytest.approx(skm.recall_score(t, p, pos_label=False))
        assert got["accuracy"] == pytest.approx(skm.accuracy_score(t, p))
        assert got["precision"] == pytest.approx(skm.precision_score(t, p))


def test_edge_cases_defined():
    empty, full = np.zeros((4, 4), bool), np.ones((4, 4), bool)
    perfect = {**{name: 1.0 for name in metrics.METRICS}, "cldice": 1.0, "hd95": 0.0, "hd95_max": 0.0}
    assert metrics.score(empty, empty) == perfect
    assert metrics.score(full, full) == perfect
    miss = metrics.score(empty, full)  # every vessel missed
    assert miss["dice"] == 0.0 and miss["sensitivity"] == 0.0 and miss["precision"] == 0.0
    false_alarm = metrics.score(full, empty)
    assert false_alarm["dice"] == 0.0 and false_alarm["specificity"] == 0.0
    for values in (miss, false_alarm):
        assert all(np.isfinite(v) for v in values.values())


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(4, 4\) differs from target shape \(4, 5\)"):
        metrics.confusion(np.zeros((4, 4)), np.zeros((4, 5)))


def test_auc_against_sklearn(rng):
    for density in (0.05, 0.3):
        target = rng.random((30, 40)) < density
        prob = np.clip(target * 0.3 + rng.random((30, 40)) * 0.7, 0, 1)
        prob = np.round(prob, 2)  # ties, as in real 8-bit-ish maps
        t, p = target.ravel(), prob.ravel()
        assert metrics.auc_roc(prob, target) == pytest.approx(skm.roc_auc_score(t, p))
        assert metrics.auc_pr(prob, target) == pytest.approx(skm.average_precision_score(t, p))


def test_hausdorff_against_skimage(rng):
    from scipy import ndimage
    from skimage.metrics import hausdorff_distance

    for _ in range(5):
        a = ndimage.binary_opening(rng.random((50, 60)) < 0.4)
        b = ndimage.binary_opening(rng.random((50, 60)) < 0.4)
        surface_a = a & ~ndimage.binary_erosion(a, border_value=0)
        surface_b = b & ~ndimage.binary_erosion(b, border_value=0)
        assert metrics.hausdorff(a, b, 100) == pytest.approx(hausdorff_distance(surface_a, surface_b))
        assert metrics.hausdorff(a, b, 95) <= metrics.hausdorff(a, b, 100)


def test_hausdorff_and_cldice_hand_made():
    a = np.zeros((20, 30), bool)
    a[5:8, 2:28] = True  # a 3 px wide vessel
    b = np.roll(a, 4, axis=0)  # the same, 4 px lower
    assert metrics.hausdorff(a, a) == 0
    assert metrics.hausdorff(a, b, 100) == 4
    assert metrics.cldice(a, a) == 1
    assert metrics.cldice(a, b) == 0  # the skeletons miss each other's vessel entirely
    broken = a.copy()
    broken[:, 14:16] = False
    assert 0.9 < metrics.cldice(broken, a) < 1
    empty = np.zeros_like(a)
    assert metrics.cldice(empty, empty) == 1 and metrics.cldice(empty, a) == 0
    assert metrics.hausdorff(empty, empty) == 0
    assert metrics.hausdorff(empty, a) == pytest.approx(np.hypot(20, 30))


def square_and_stray_pixel() -> tuple[np.ndarray, np.ndarray]:
    """A 3x3 square (surface: its 8 outer pixels) as the target (9, 12), and the same square
    with one stray pixel 6 px to the right of its middle row as the prediction: directed
    distances prediction -> target are [0] * 8 + [6], target -> prediction [0] * 8."""
    target = np.zeros((9, 12), bool)
    target[2:5, 2:5] = True
    pred = target.copy()
    pred[3, 10] = True
    return pred, target


def test_hd95_conventions_by_hand():
    pred, target = square_and_stray_pixel()
    # pooled (medpy): 16 zeros and a 6; the 95th percentile lies at 0.95 * 16 = 15.2 of the
    # sorted 17, 0.2 of the way from 0 to 6
    assert metrics.hausdorff(pred, target, 95) == pytest.approx(1.2)
    # larger of the directions (MONAI): 8 zeros and a 6 at 0.95 * 8 = 7.6, 0.6 of the way
    assert metrics.hausdorff(pred, target, 95, combine="max") == pytest.approx(3.6)
    assert metrics.hausdorff(target, pred, 95, combine="max") == pytest.approx(3.6)  # symmetric
    assert metrics.hausdorff(pred, target, 100) == metrics.hausdorff(pred, target, 100, combine="max") == 6
    values = metrics.score(pred, target)
    assert (values["hd95"], values["hd95_max"]) == pytest.approx((1.2, 3.6))
    empty = np.zeros_like(target)
    assert metrics.hausdorff(empty, empty, combine="max") == 0
    assert metrics.hausdorff(empty, target, combine="max") == pytest.approx(np.hypot(9, 12))
    with pytest.raises(ValueError, match="got 'mean'"):
        metrics.hausdorff(pred, target, combine="mean")


def test_hd95_max_against_monai(rng):
    pytest.importorskip("monai")
    from monai.metrics import compute_hausdorff_distance
    from scipy import ndimage

    for _ in range(5):
        a = ndimage.binary_opening(rng.random((50, 60)) < 0.4)
        b = ndimage.binary_opening(rng.random((50, 60)) < 0.4)
        # (batch, class, H, W), the one class counted (include_background)
        theirs = compute_hausdorff_distance(a[None, None], b[None, None], True, percentile=95)
        assert metrics.hausdorff(a, b, 95, combine="max") == pytest.approx(float(theirs), rel=1e-5)
    pred, target = square_and_stray_pixel()
    theirs = compute_hausdorff_distance(pred[None, None], target[None, None], True, percentile=95)
    assert float(theirs) == pytest.approx(3.6, rel=1e-5)  # the hand-computed value


def test_auc_edge_cases_and_fov():
    target = np.zeros((4, 4), bool)
    prob = np.linspace(0, 1, 16).reshape(4, 4)
    assert metrics.auc_roc(prob, target) == 0.5 and metrics.auc_pr(prob, target) == 0.0
    assert metrics.auc_roc(prob, ~target) == 0.5
    target[2:] = True  # the higher half of the probabilities: perfect ranking
    assert metrics.auc_roc(prob, target) == 1 and metrics.auc_pr(prob, target) == 1
    values = metrics.score(prob >= 0.5, target, prob)
    assert values["dice"] == 1 and values["auc_roc"] == 1 and values["hd95"] == 0
    fov = np.zeros((4, 4), bool)
    fov[1:3] = True  # rows 1-2 only: one row of background, one of vessel
    wrong = np.zeros((4, 4), bool)
    wrong[0] = True  # a false positive outside the field of view does not count
    inside = metrics.score(wrong | target, target, fov=fov)
    assert inside["dice"] == 1 and inside["specificity"] == 1


def test_summary_mean_and_std(tmp_path):
    import pandas as pd

    from octaseg.metrics import summarize, summary_markdown

    pd.DataFrame({"subject": [1, 2, 3], "dice": [0.8, 0.9, 1.0], "auc_roc": [0.9, 0.95, 1.0]}).to_csv(
        tmp_path / "a.csv", index=False
    )
    pd.DataFrame({"subject": [1], "dice": [0.5]}).to_csv(tmp_path / "b.csv", index=False)
    table = summarize({"model": tmp_path / "a.csv", "baseline": tmp_path / "b.csv"})
    assert table["method"].tolist() == ["model", "baseline"]
    assert table["n_subjects"].tolist() == [3, 1]
    assert table["dice"].tolist() == pytest.approx([0.9, 0.5])
    assert table["dice_std"].iloc[0] == pytest.approx(0.1)  # sample std over subjects
    assert np.isnan(table["dice_std"].iloc[1]) and np.isnan(table["auc_roc"].iloc[1])  # undefined: empty
    text = summary_markdown(table)
    assert "0.9000 ± 0.1000" in text and "0.9500 ± 0.0500" in text
    baseline = next(line for line in text.splitlines() if "baseline" in line)
    assert "0.5000" in baseline and "±" not in baseline


# --------------------------------------------------------------------------- binned ROC and PR curves


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
    assert curves.auc_roc == pytest.approx(skm.roc_auc_score(label, prob), abs=1e-12)
    assert curves.average_precision == pytest.approx(skm.average_precision_score(label, prob), abs=1e-12)
    # every point sklearn finds lies on the binned curve
    fpr, tpr, _ = skm.roc_curve(label, prob)
    ours = set(zip(np.round(curves.fpr, 12), np.round(curves.tpr, 12), strict=True))
    assert set(zip(np.round(fpr, 12), np.round(tpr, 12), strict=True)) <= ours
    precision, recall, _ = skm.precision_recall_curve(label, prob)
    ours = set(zip(np.round(curves.recall, 12), np.round(curves.precision, 12), strict=True))
    assert set(zip(np.round(recall, 12), np.round(precision, 12), strict=True)) <= ours


def test_pooled_curves_match_sklearn_within_binning_tolerance(rng):
    label = rng.random((40, 50)) < 0.2
    prob = np.clip(0.35 * label + rng.normal(0.35, 0.2, label.shape), 0, 1)  # ranks vessels mostly higher
    prob2, label2 = rng.random((30, 30)), rng.random((30, 30)) < 0.1
    pooled = pixel_histograms(prob, label) + pixel_histograms(prob2, label2)
    curves = binned_curves(pooled)
    all_prob = np.r_[prob.ravel(), prob2.ravel()]
    all_label = np.r_[label.ravel(), label2.ravel()]
    assert curves.auc_roc == pytest.approx(skm.roc_auc_score(all_label, all_prob), abs=2e-3)
    assert curves.average_precision == pytest.approx(
        skm.average_precision_score(all_label, all_prob), abs=5e-3
    )
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
