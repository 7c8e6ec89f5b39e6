"""Every metric against scikit-learn on random masks, and defined values on edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from octaseg import metrics


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
    assert metrics.score(empty, empty) == {name: 1.0 for name in metrics.METRICS}
    assert metrics.score(full, full) == {name: 1.0 for name in metrics.METRICS}
    miss = metrics.score(empty, full)  # every vessel missed
    assert miss["dice"] == 0.0 and miss["sensitivity"] == 0.0 and miss["precision"] == 0.0
    false_alarm = metrics.score(full, empty)
    assert false_alarm["dice"] == 0.0 and false_alarm["specificity"] == 0.0
    for values in (miss, false_alarm):
        assert all(np.isfinite(v) for v in values.values())


def test_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(4, 4\) differs from target shape \(4, 5\)"):
        metrics.confusion(np.zeros((4, 4)), np.zeros((4, 5)))
