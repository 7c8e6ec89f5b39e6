"""Segmentation metrics per image from binary masks.

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


def score(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """All metrics of :data:`METRICS` for one image."""
    c = confusion(pred, target)
    return {name: fn(c) for name, fn in METRICS.items()}


# --------------------------------------------------------------------------- files and tables


def evaluate_files(
    ids: Sequence[int | str], pred_paths: Sequence[str | Path], truth_paths: Sequence[str | Path]
) -> list[dict[str, float | int | str]]:
    """Score predicted masks against label files, one row per subject id.

    Both are binary images (0/255 or 0/1) of the same size; a mismatch is an error that
    names both files.
    """
    from octaseg.io import read_label

    if not (len(ids) == len(pred_paths) == len(truth_paths)):
        raise ValueError(f"got {len(ids)} ids, {len(pred_paths)} predictions, {len(truth_paths)} labels")
    rows: list[dict[str, float | int | str]] = []
    for subject, pred_path, truth_path in zip(ids, pred_paths, truth_paths, strict=True):
        truth = read_label(truth_path)
        pred = read_label(pred_path)
        if pred.shape != truth.shape:
            raise ValueError(
                f"{pred_path}: prediction of {pred.shape[0]}x{pred.shape[1]} does not match "
                f"label {truth_path} of {truth.shape[0]}x{truth.shape[1]}"
            )
        rows.append({"subject": subject, **score(pred, truth)})
    return rows


def summarize(tables: Mapping[str, str | Path]) -> pd.DataFrame:
    """Method name -> per-subject metrics CSV  =>  one row per method: n and means."""
    rows = []
    for name, path in tables.items():
        df = pd.read_csv(path)
        rows.append({"method": name, "n_subjects": len(df), **df[list(METRICS)].mean().to_dict()})
    return pd.DataFrame(rows)
