"""Figures for people to look at: dataset examples, learning curves, predictions per subject,
ROC and precision-recall curves, per-subject Dice per method, and test Dice against the
number of training subjects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from octaseg.io import atomic_path
from octaseg.metrics import Curves, binned_curves, check_same_shape, confusion, dice


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, tight: bool = True) -> None:
    """Lay out (unless ``tight`` is off), write atomically in the format of the path's
    suffix (PNG by default) and close a figure."""
    if tight:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(path).suffix.lstrip(".") or "png")
    _pyplot().close(fig)


def dataset_examples(
    path: str | Path,
    subjects: Sequence[int | str],
    projections: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    title: str = "",
) -> None:
    """One row per subject: mean projection (H, W), label (H, W), label outline over the projection.

    Projections and labels must be in the same frame: the overlay shows at a glance
    whether the orientation setting is right.
    """
    if not (len(subjects) == len(projections) == len(labels)) or not subjects:
        raise ValueError(f"need as many projections and labels as subjects (> 0), got "
                         f"{len(subjects)}, {len(projections)}, {len(labels)}")  # fmt: skip
    plt = _pyplot()
    n = len(subjects)
    fig, axes = plt.subplots(n, 3, figsize=(9, 3 * n + (0.4 if title else 0)), squeeze=False)
    for row, subject, projection, label in zip(axes, subjects, projections, labels, strict=True):
        lo, hi = np.percentile(projection, [1, 99.5])
        row[0].imshow(projection, cmap="gray", vmin=lo, vmax=hi)
        row[0].set_ylabel(str(subject))
        row[1].imshow(label > 0, cmap="gray")
        row[2].imshow(projection, cmap="gray", vmin=lo, vmax=hi)
        row[2].contour(label > 0, levels=[0.5], colors="tab:red", linewidths=0.4)
    for ax, name in zip(axes[0], ["mean projection", "large-vessel label", "label outline"], strict=True):
        ax.set_title(name)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    _save(fig, path)


def learning_curve(path: str | Path, history: Sequence[dict[str, float]], title: str = "") -> None:
    """Training loss and validation Dice per epoch (from history.csv rows), one PNG."""
    if not history:
        raise ValueError("learning_curve needs at least one epoch of history")
    plt = _pyplot()
    epochs = [int(row["epoch"]) for row in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, [float(row["loss"]) for row in history], color="tab:blue", label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="tab:blue")
    right = ax.twinx()
    right.plot(epochs, [float(row["val_dice"]) for row in history], color="tab:red", label="validation Dice")
    right.set_ylabel("validation Dice", color="tab:red")
    best = max(range(len(history)), key=lambda i: float(history[i]["val_dice"]))
    right.axvline(epochs[best], color="tab:red", linestyle=":", linewidth=1)
    if title:
        ax.set_title(title)
    _save(fig, path)


# --------------------------------------------------------------------------- predictions

#: Error-overlay colours (RGB, Okabe-Ito palette, distinct also with red-green colour blindness):
#: true positive yellow, false positive vermillion, false negative sky blue.
TP_COLOR = (240, 228, 66)
FP_COLOR = (213, 94, 0)
FN_COLOR = (86, 180, 233)
#: Brightness (0..255) of the brightest input pixel under the error overlay.
DIM_LEVEL = 90


def _stretch(image: np.ndarray) -> np.ndarray:
    """An image (H, W) scaled to 0..1 between its 1st and 99.5th percentiles (float64)."""
    image = np.asarray(image, np.float64)
    lo, hi = np.percentile(image, [1, 99.5])
    if hi <= lo:
        return np.zeros_like(image)
    return np.clip((image - lo) / (hi - lo), 0, 1)


def error_overlay(mask: np.ndarray, label: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """RGB uint8 image (H, W, 3) of a predicted mask (H, W) against its label (H, W):
    true positives :data:`TP_COLOR`, false positives :data:`FP_COLOR`, false negatives
    :data:`FN_COLOR`; true negatives black, or the background image (H, W) stretched and
    dimmed to at most :data:`DIM_LEVEL` in grey."""
    check_same_shape(mask=mask, label=label, background=background)
    pred, truth = np.asarray(mask, bool), np.asarray(label, bool)
    if background is None:
        rgb = np.zeros((*pred.shape, 3), np.uint8)
    else:
        grey = np.round(_stretch(background) * DIM_LEVEL).astype(np.uint8)
        rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[pred & truth] = TP_COLOR
    rgb[pred & ~truth] = FP_COLOR
    rgb[~pred & truth] = FN_COLOR
    return rgb


def subject_figure(
    path: str | Path,
    image: np.ndarray,
    probability: np.ndarray | None,
    mask: np.ndarray,
    label: np.ndarray,
    title: str = "",
    input_name: str = "",
) -> float:
    """One row of panels for one subject and method, written as PNG: input image (H, W)
    (named ``input_name`` above it, e.g. the map or projection the method read),
    vessel probability (H, W) in 0..1 (None: a method without one, e.g. a classical
    baseline), predicted mask (H, W), label (H, W) and the error overlay over the dimmed
    input. The Dice of mask against label goes into the title; it is returned."""
    from matplotlib.patches import Patch

    check_same_shape(image=image, probability=probability, mask=mask, label=label)
    pred, truth = np.asarray(mask, bool), np.asarray(label, bool)
    counts = confusion(pred, truth)
    score = dice(counts)
    plt = _pyplot()
    # square panels of 2.7 inches, up to 3.6 for large images; fixed margins (in inches) for
    # the titles above, the legend below and the colour bar beside the probability panel
    panel = float(np.clip(max(pred.shape) / 100, 3, 4)) * 0.9
    gap, margin, below, above = 0.75, 0.1, 0.4, 0.7
    width, height = 5 * panel + 4 * gap + 2 * margin, panel + below + above
    fig, axes = plt.subplots(1, 5, figsize=(width, height))
    fig.subplots_adjust(margin / width, below / height, 1 - margin / width, 1 - above / height, gap / panel)
    axes[0].imshow(_stretch(image), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(f"input ({input_name})" if input_name else "input")
    if probability is None:
        axes[1].set_facecolor("0.92")
        axes[1].set_box_aspect(pred.shape[0] / pred.shape[1])  # the size of the image panels
        axes[1].text(0.5, 0.5, "no probability map", ha="center", va="center", transform=axes[1].transAxes)
        axes[1].set_title("vessel probability")
    else:
        shown = axes[1].imshow(probability, cmap="magma", vmin=0, vmax=1)
        axes[1].set_title("vessel probability")
        # colour bar beside the panel, not taken out of it: all panels keep one size
        fig.colorbar(shown, cax=axes[1].inset_axes((1.02, 0, 0.05, 1)))
    axes[2].imshow(pred, cmap="gray", vmin=0, vmax=1)
    axes[2].set_title("predicted mask")
    axes[3].imshow(truth, cmap="gray", vmin=0, vmax=1)
    axes[3].set_title("ground truth")
    axes[4].imshow(error_overlay(pred, truth, image))
    axes[4].set_title("errors over input")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    legend = [
        Patch(color=np.divide(TP_COLOR, 255), label=f"true positive ({counts.tp} px)"),
        Patch(color=np.divide(FP_COLOR, 255), label=f"false positive ({counts.fp} px)"),
        Patch(color=np.divide(FN_COLOR, 255), label=f"false negative ({counts.fn} px)"),
    ]
    fig.legend(handles=legend, loc="lower right", ncol=3, frameon=False, bbox_to_anchor=(0.99, 0.0))
    fig.suptitle(f"{title}: Dice {score:.3f}" if title else f"Dice {score:.3f}")
    _save(fig, path, tight=False)
    return score


# --------------------------------------------------------------------------- ROC and PR curves


def roc_pr_figure(
    path: str | Path,
    subjects: Sequence[int | str],
    histograms: Sequence[np.ndarray],
    title: str = "",
    threshold: float = 0.5,
) -> Curves:
    """ROC (left) and precision-recall (right) curves, written as PNG: the pooled curve of
    all subjects' pixels (histograms (2, bins) each, see :func:`octaseg.metrics.pixel_histograms`) with its
    area in the legend, one thin line per subject that has vessels and background, and a
    dot at the mask threshold. Returns the pooled curves."""
    if len(subjects) != len(histograms) or not subjects:
        raise ValueError(f"need one histogram per subject (> 0), got {len(subjects)} subjects "
                         f"and {len(histograms)} histograms")  # fmt: skip
    shapes = {np.shape(h) for h in histograms}
    if len(shapes) != 1:
        raise ValueError(f"histograms must share one shape (2, bins), got shapes {sorted(shapes)}")
    pooled = binned_curves(np.sum(histograms, axis=0))
    plt = _pyplot()
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(10, 4.6))
    for histogram in histograms:
        if np.asarray(histogram).sum(axis=1).min() > 0:
            one = binned_curves(histogram)
            roc.plot(one.fpr, one.tpr, color="0.65", linewidth=0.6)
            pr.plot(one.recall, one.precision, color="0.65", linewidth=0.6)
    roc.plot([], [], color="0.65", linewidth=0.6, label=f"single subjects (n={len(subjects)})")
    pr.plot([], [], color="0.65", linewidth=0.6, label=f"single subjects (n={len(subjects)})")
    roc.plot(pooled.fpr, pooled.tpr, color="tab:blue", linewidth=2, label=f"pooled, AUC {pooled.auc_roc:.3f}")
    pr.plot(pooled.recall, pooled.precision, color="tab:blue", linewidth=2,
            label=f"pooled, AP {pooled.average_precision:.3f}")  # fmt: skip
    at = int(np.clip(np.searchsorted(pooled.thresholds, threshold), 0, len(pooled.thresholds) - 1))
    roc.plot(pooled.fpr[at], pooled.tpr[at], "o", color="tab:red", label=f"threshold {threshold:g}")
    pr.plot(pooled.recall[at], pooled.precision[at], "o", color="tab:red", label=f"threshold {threshold:g}")
    roc.plot([0, 1], [0, 1], color="0.4", linestyle=":", linewidth=1, label="chance")
    pr.axhline(pooled.prevalence, color="0.4", linestyle=":", linewidth=1,
               label=f"chance (vessel fraction {pooled.prevalence:.3f})")  # fmt: skip
    roc.set(xlabel="false positive rate (1 - specificity)", ylabel="true positive rate (sensitivity)",
            title="ROC", xlim=(0, 1), ylim=(0, 1.01))  # fmt: skip
    pr.set(xlabel="recall (sensitivity)", ylabel="precision", title="precision-recall",
           xlim=(0, 1), ylim=(0, 1.01))  # fmt: skip
    roc.legend(loc="lower right", fontsize="small")
    pr.legend(loc="lower left", fontsize="small")
    for ax in (roc, pr):
        ax.set_aspect("equal")
        ax.grid(True, linewidth=0.3)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return pooled


# --------------------------------------------------------------------------- comparison


def dice_comparison(
    path: str | Path, dice_per_method: Mapping[str, Sequence[float]], title: str = ""
) -> None:
    """Box plot of per-subject Dice (n,) per method, with every subject as a point and the
    mean as a diamond, written as PNG; methods in the given order."""
    if not dice_per_method:
        raise ValueError("dice_comparison needs at least one method")
    values = {name: np.asarray(v, np.float64).ravel() for name, v in dice_per_method.items()}
    empty = [name for name, v in values.items() if v.size == 0]
    if empty:
        raise ValueError(f"no Dice values for method(s) {', '.join(empty)}")
    plt = _pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(names) + 1.5), 4.5))
    ax.boxplot([values[n] for n in names], widths=0.5, showfliers=False, medianprops={"color": "tab:blue"})
    rng = np.random.default_rng(0)  # fixed jitter: the same figure on every run
    for position, name in enumerate(names, start=1):
        v = values[name]
        x = position + rng.uniform(-0.12, 0.12, v.size)
        ax.plot(x, v, "o", color="tab:orange", markersize=4, alpha=0.8, markeredgecolor="none")
        ax.plot(position, v.mean(), "D", color="black", markersize=5)
    ax.plot([], [], "o", color="tab:orange", markersize=4, label="one test subject")
    ax.plot([], [], "D", color="black", markersize=5, label="mean")
    ax.set_xticks(range(1, len(names) + 1), [f"{n}\n(n={values[n].size})" for n in names])
    lowest = min(float(v.min()) for v in values.values())
    ax.set_ylim(max(0.0, lowest - 0.05) if lowest > 0.3 else 0.0, 1.0)
    ax.set_ylabel("Dice per test subject")
    ax.grid(True, axis="y", linewidth=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(title or "Dice per method on the test subjects")
    _save(fig, path)


def subjects_curve(path: str | Path, rows: Sequence[Mapping[str, Any]], title: str = "") -> None:
    """Test Dice against the number of training subjects (log x axis), one line per start,
    each point the mean with its standard deviation as an error bar (the lines nudged
    apart sideways by a few percent, so that the bars at one N do not hide each other);
    ``rows`` as :func:`octaseg.few_labels.curve_table` makes them (start, n, dice_mean,
    dice_sd), lines in the order their starts first appear. Written as PNG."""
    if not rows:
        raise ValueError("subjects_curve needs at least one experiment's row")
    plt = _pyplot()
    starts = list(dict.fromkeys(str(row["start"]) for row in rows))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, start in enumerate(starts):
        mine = [r for r in rows if str(r["start"]) == start]
        points = sorted((int(r["n"]), float(r["dice_mean"]), float(r["dice_sd"])) for r in mine)
        n, mean, sd = (np.array(column) for column in zip(*points, strict=True))
        nudge = 1 + 0.03 * (k - (len(starts) - 1) / 2)
        ax.errorbar(n * nudge, mean, yerr=np.nan_to_num(sd), marker="o", capsize=3, label=start)
    sizes = sorted({int(row["n"]) for row in rows})
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training subjects")
    ax.set_ylabel("test Dice (mean ± s.d. over subjects)")
    ax.grid(True, linewidth=0.3)
    ax.legend(title="start", loc="lower right", fontsize="small")
    ax.set_title(title or "Test Dice against the number of training subjects")
    _save(fig, path)
