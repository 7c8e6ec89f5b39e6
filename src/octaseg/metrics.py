"""Segmentation metrics per image from binary masks, ROC and precision-recall curves
from binned pixel counts, and the per-method summary of the metrics tables.

``confusion(pred, target)`` counts tp, fp, fn, tn; the metric formulas are one line each
on those counts. Degenerate cases are defined, not NaN: where a ratio has a zero
denominator (e.g. Dice with both masks empty, sensitivity with no vessel in the truth)
the metric is 1.0 if the prediction is correct there (nothing to find, nothing found)
and 0.0 otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd


class Confusion(NamedTuple):
    tp: int
    fp: int
    fn: int
    tn: int


def confusion(pred: np.ndarray, target: np.ndarray) -> Confusion:
    """Counts for two binary masks of the same shape (H, W) (nonzero = vessel)."""
    pred = np.asarray(pred).astype(bool)
    target = np.asarray(target).astype(bool)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    tp = int(np.count_nonzero(pred & target))
    fp = int(np.count_nonzero(pred)) - tp
    fn = int(np.count_nonzero(target)) - tp
    tn = pred.size - tp - fp - fn
    return Confusion(tp, fp, fn, tn)


def _ratio(num: int, den: int, correct_if_empty: bool) -> float:
    if den == 0:
        return 1.0 if correct_if_empty else 0.0
    return num / den


def dice(c: Confusion) -> float:
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, c.fp == 0)


def iou(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fp + c.fn, c.fp == 0)


def sensitivity(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fn, True)


def specificity(c: Confusion) -> float:
    return _ratio(c.tn, c.tn + c.fp, True)


def balanced_accuracy(c: Confusion) -> float:
    return (sensitivity(c) + specificity(c)) / 2


def accuracy(c: Confusion) -> float:
    return _ratio(c.tp + c.tn, c.tp + c.fp + c.fn + c.tn, True)


def precision(c: Confusion) -> float:
    return _ratio(c.tp, c.tp + c.fp, c.fn == 0)


METRICS = {
    "dice": dice,
    "iou": iou,
    "balanced_accuracy": balanced_accuracy,
    "sensitivity": sensitivity,
    "specificity": specificity,
    "accuracy": accuracy,
    "precision": precision,
}


def cldice(pred: np.ndarray, target: np.ndarray) -> float:
    """Centerline Dice (Shit et al. 2021): harmonic mean of the fraction of the predicted
    skeleton inside the target and of the target's skeleton inside the prediction.
    Both masks empty: 1.0; one empty: 0.0."""
    from skimage.morphology import skeletonize

    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    if not pred.any() or not target.any():
        return float(not pred.any() and not target.any())
    skel_pred, skel_true = skeletonize(pred), skeletonize(target)
    tprec = np.count_nonzero(skel_pred & target) / max(1, np.count_nonzero(skel_pred))
    tsens = np.count_nonzero(skel_true & pred) / max(1, np.count_nonzero(skel_true))
    return 0.0 if tprec + tsens == 0 else 2 * tprec * tsens / (tprec + tsens)


def _surface(mask: np.ndarray) -> np.ndarray:
    """Foreground pixels with a background 4-neighbour (or on the image border)."""
    from scipy import ndimage

    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def hausdorff(pred: np.ndarray, target: np.ndarray, percentile: float = 95, combine: str = "pool") -> float:
    """Symmetric Hausdorff distance in pixels between the surfaces of two masks (H, W), at a
    percentile of the surface-to-surface distances (95: HD95; 100: the classical one).

    The distances run both ways: from each surface pixel of ``pred`` to the nearest one of
    ``target``, and back. ``combine`` says how the two directions make one number:
    ``"pool"`` takes the percentile of both sets of distances together (medpy's ``hd95``;
    the ``hd95`` column), ``"max"`` the larger of the two directions' percentiles (MONAI's
    ``compute_hausdorff_distance(..., percentile=95)``; the ``hd95_max`` column). ``"max"``
    is mostly the larger: where one mask has a few stray pixels far from the other, their
    distances are a larger share of their own direction than of the pool (on OCTA-500
    masks 1.5-3x the pooled value). At percentile 100 the two agree.
    Both masks empty: 0.0; one empty: the image diagonal (the largest distance possible)."""
    if combine not in ("pool", "max"):
        raise ValueError(f"combine must be 'pool' or 'max', got {combine!r}")
    return hausdorff_both(pred, target, percentile)[combine]


def hausdorff_both(pred: np.ndarray, target: np.ndarray, percentile: float = 95) -> dict[str, float]:
    """:func:`hausdorff` of two masks (H, W) in both conventions, ``{"pool": ..., "max":
    ...}``, from one computation of the surface distances."""
    from scipy import ndimage

    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    if not pred.any() or not target.any():
        edge = 0.0 if not pred.any() and not target.any() else float(np.hypot(*pred.shape))
        return {"pool": edge, "max": edge}
    sp, st = _surface(pred), _surface(target)
    to_target = ndimage.distance_transform_edt(~st)[sp]
    to_pred = ndimage.distance_transform_edt(~sp)[st]
    return {
        "pool": float(np.percentile(np.concatenate([to_target, to_pred]), percentile)),
        "max": float(max(np.percentile(to_target, percentile), np.percentile(to_pred, percentile))),
    }


def auc_roc(prob: np.ndarray, target: np.ndarray) -> float:
    """Area under the ROC curve of a probability map against a mask (ties count half).
    Without vessels or without background there is nothing to rank: 0.5 (chance)."""
    from scipy.stats import rankdata

    prob, target = np.asarray(prob, np.float64).ravel(), np.asarray(target, bool).ravel()
    n_pos = int(np.count_nonzero(target))
    n_neg = target.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return 0.5
    ranks = rankdata(prob)
    return float((ranks[target].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auc_pr(prob: np.ndarray, target: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision, sum (R_n - R_n-1) P_n
    over thresholds at each distinct probability. Without vessels: 0.0."""
    prob, target = np.asarray(prob, np.float64).ravel(), np.asarray(target, bool).ravel()
    n_pos = int(np.count_nonzero(target))
    if n_pos == 0:
        return 0.0
    order = np.argsort(-prob, kind="stable")
    prob, target = prob[order], target[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(prob)), prob.size - 1]
    tp = np.cumsum(target)[last_of_tie]
    precision = tp / (last_of_tie + 1)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


# --------------------------------------------------------------------------- binned ROC and PR curves


def check_same_shape(**arrays: np.ndarray | None) -> tuple[int, int]:
    """The common (H, W) shape of the given 2D arrays (None skipped); an error names each shape."""
    shapes = {name: np.shape(a) for name, a in arrays.items() if a is not None}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"expected 2D arrays of one shape (H, W), got {listed}")
    return next(iter(shapes.values()))


class Curves(NamedTuple):
    """ROC and precision-recall points at descending thresholds (bins + 1,): the first
    threshold predicts every pixel vessel, the last (above 1) none."""

    thresholds: np.ndarray
    fpr: np.ndarray
    tpr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auc_roc: float
    #: average precision: sum over thresholds of (recall step) x precision, no interpolation
    average_precision: float
    #: fraction of vessel pixels: the precision of a random guess
    prevalence: float


def pixel_histograms(probability: np.ndarray, label: np.ndarray, bins: int = 1000) -> np.ndarray:
    """Counts (2, bins) of background (row 0) and vessel (row 1) pixels per probability bin
    [k / bins, (k + 1) / bins) (the last bin includes 1) of a probability map (H, W) in 0..1
    and its label (H, W). Histograms of several images add up to their pooled histogram."""
    check_same_shape(probability=probability, label=label)
    if bins < 1:
        raise ValueError(f"need at least one bin, got bins={bins}")
    prob = np.asarray(probability, np.float64).ravel()
    if not np.isfinite(prob).all():
        raise ValueError(f"probabilities must be finite, got {np.count_nonzero(~np.isfinite(prob))} NaN/inf")
    if prob.size and (prob.min() < 0 or prob.max() > 1):
        raise ValueError(f"probabilities must lie in 0..1, got values from {prob.min()} to {prob.max()}")
    index = np.minimum((prob * bins).astype(np.int64), bins - 1)
    vessel = np.asarray(label, bool).ravel()
    return np.stack([np.bincount(index[~vessel], minlength=bins), np.bincount(index[vessel], minlength=bins)])


def binned_curves(histograms: np.ndarray) -> Curves:
    """ROC and PR curves with their areas from background/vessel counts (2, bins) per
    probability bin (see :func:`pixel_histograms`), a pixel counted vessel at threshold
    k / bins when its bin is k or above. Exact up to ties within a bin (these count as
    ties: half in the ROC area). Needs vessel and background pixels."""
    counts = np.asarray(histograms)
    if counts.ndim != 2 or counts.shape[0] != 2 or counts.shape[1] < 1:
        raise ValueError(f"expected counts of shape (2, bins), got shape {counts.shape}")
    n_neg, n_pos = (int(n) for n in counts.sum(axis=1))
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"curves need vessel and background pixels, got {n_pos} vessel, {n_neg} background")
    bins = counts.shape[1]
    # predicted positives at threshold k / bins for k = 0..bins: counts of bins >= k
    fp = np.r_[np.cumsum(counts[0, ::-1])[::-1], 0].astype(np.float64)
    tp = np.r_[np.cumsum(counts[1, ::-1])[::-1], 0].astype(np.float64)
    fpr, tpr = fp / n_neg, tp / n_pos
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0)
    auc_roc = float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))
    average_precision = float(np.sum((tpr[:-1] - tpr[1:]) * precision[:-1]))
    return Curves(
        thresholds=np.arange(bins + 1) / bins,
        fpr=fpr,
        tpr=tpr,
        precision=precision,
        recall=tpr,
        auc_roc=auc_roc,
        average_precision=average_precision,
        prevalence=n_pos / (n_pos + n_neg),
    )


# --------------------------------------------------------------------------- one image


def score(
    pred: np.ndarray, target: np.ndarray, prob: np.ndarray | None = None, fov: np.ndarray | None = None
) -> dict[str, float]:
    """All metrics of one image (masks and maps (H, W)): those of :data:`METRICS`, clDice,
    and HD95 in both conventions (``hd95`` pooled, ``hd95_max`` MONAI's, see
    :func:`hausdorff`) from the masks, and AUC-ROC / AUC-PR when the probability map is
    given. With a field-of-view mask, the pixel metrics count only pixels inside it (the
    shape metrics see the masks cut to it)."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    if fov is not None:
        fov = np.asarray(fov, bool)
        pred, target = pred & fov, target & fov
        c = confusion(pred[fov], target[fov])
    else:
        c = confusion(pred, target)
    out = {name: fn(c) for name, fn in METRICS.items()}
    out["cldice"] = cldice(pred, target)
    hd95 = hausdorff_both(pred, target, 95)  # the surface distances once, for both
    out["hd95"], out["hd95_max"] = hd95["pool"], hd95["max"]
    if prob is not None:
        p, t = (prob[fov], target[fov]) if fov is not None else (prob, target)
        out["auc_roc"] = auc_roc(p, t)
        out["auc_pr"] = auc_pr(p, t)
    return out


# --------------------------------------------------------------------------- files and tables


def evaluate_files(
    ids: Sequence[int | str],
    pred_paths: Sequence[str | Path],
    truth_paths: Sequence[str | Path],
    prob_paths: Sequence[str | Path] | None = None,
) -> list[dict[str, float | int | str]]:
    """Score predicted masks (and, if given, probability maps) against label files, one
    row per subject id.

    Masks and labels are binary images (0/255 or 0/1) of the same size; a mismatch is an
    error that names both files.
    """
    from octaseg.io import read_image, read_label

    if not (len(ids) == len(pred_paths) == len(truth_paths)):
        raise ValueError(f"got {len(ids)} ids, {len(pred_paths)} predictions, {len(truth_paths)} labels")
    rows: list[dict[str, float | int | str]] = []
    probs = prob_paths if prob_paths is not None else [None] * len(ids)
    for subject, pred_path, truth_path, prob_path in zip(ids, pred_paths, truth_paths, probs, strict=True):
        truth = read_label(truth_path)
        pred = read_label(pred_path)
        if pred.shape != truth.shape:
            raise ValueError(
                f"{pred_path}: prediction of {pred.shape[0]}x{pred.shape[1]} does not match "
                f"label {truth_path} of {truth.shape[0]}x{truth.shape[1]}"
            )
        prob = None if prob_path is None else read_image(prob_path)
        if prob is not None and prob.shape != truth.shape:
            raise ValueError(f"{prob_path}: probability map of {prob.shape} vs label {truth.shape}")
        rows.append({"subject": subject, **score(pred, truth, prob)})
    return rows


def summarize(tables: Mapping[str, str | Path]) -> pd.DataFrame:
    """Method name -> per-subject metrics CSV  =>  one row per method: the number of
    subjects, and per metric its mean (column ``<metric>``) and sample standard deviation
    over subjects (``<metric>_std``; empty for a single subject). A metric a method lacks
    (AUC without probability maps) stays empty."""
    rows = []
    for name, path in tables.items():
        df = pd.read_csv(path).drop(columns="subject")
        row: dict[str, object] = {"method": name, "n_subjects": len(df)}
        for column in df.columns:
            row[column] = df[column].mean()
            row[f"{column}_std"] = df[column].std(ddof=1) if len(df) > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def summary_markdown(summary: pd.DataFrame, digits: int = 4) -> str:
    """The summary as a Markdown table of ``mean ± std`` per metric, one row per method."""
    metrics = [c for c in summary.columns if c not in ("method", "n_subjects") and not c.endswith("_std")]
    table = summary[["method", "n_subjects"]].copy()
    for column in metrics:
        mean, std = summary[column], summary.get(f"{column}_std")
        cells = []
        for i in range(len(summary)):
            if pd.isna(mean.iloc[i]):
                cells.append("")
            elif std is None or pd.isna(std.iloc[i]):
                cells.append(f"{mean.iloc[i]:.{digits}f}")
            else:
                cells.append(f"{mean.iloc[i]:.{digits}f} ± {std.iloc[i]:.{digits}f}")
        table[column] = cells
    return table.to_markdown(index=False, colalign=["left"] + ["right"] * (len(table.columns) - 1))


#: Thresholds tried when ``threshold: val`` chooses one on the validation images.
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.01), 2)


def choose_threshold(
    probabilities: Sequence[np.ndarray], masks: Sequence[np.ndarray], candidates: np.ndarray = THRESHOLDS
) -> tuple[float, float]:
    """The probability threshold (from ``candidates``) with the best mean Dice over the
    images, and that Dice: probabilities float (H, W) against bool masks (H, W). Ties go
    to the threshold nearest 0.5."""
    scores = np.array(
        [
            np.mean([dice(confusion(p >= t, m)) for p, m in zip(probabilities, masks, strict=True)])
            for t in candidates
        ]
    )
    best = np.flatnonzero(scores == scores.max())
    pick = best[np.argmin(np.abs(candidates[best] - 0.5))]
    return float(candidates[pick]), float(scores[pick])
