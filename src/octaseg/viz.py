"""Figures for people to look at: dataset examples and (later) predictions and curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from octaseg.io import atomic_path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
