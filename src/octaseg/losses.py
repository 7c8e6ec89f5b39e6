"""Segmentation losses on 2-class logits (B, 2, H, W) and integer targets (B, H, W).

Each loss is a plain function; :func:`build_loss` turns a config entry, a name or a
mapping of names to weights, into one callable weighted sum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if logits.ndim != 4 or logits.shape[1] != 2 or target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"expected logits (B, 2, H, W) and target (B, H, W), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    _check(logits, target)
    return F.cross_entropy(logits.float(), target.long())


def soft_iou(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft IoU of the vessel-class softmax probability, over the whole batch."""
    _check(logits, target)
    prob = torch.softmax(logits.float(), dim=1)[:, 1]
    t = target.float()
    inter = (prob * t).sum()
    union = prob.sum() + t.sum() - inter
    return 1 - (inter + eps) / (union + eps)


def soft_dice(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of the vessel-class softmax probability, over the whole batch."""
    _check(logits, target)
    prob = torch.softmax(logits.float(), dim=1)[:, 1]
    t = target.float()
    return 1 - (2 * (prob * t).sum() + eps) / (prob.sum() + t.sum() + eps)


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "iou": soft_iou, "dice": soft_dice}


def build_loss(spec: str | Mapping[str, float]) -> Loss:
    """A loss from a name ("ce") or a weighted sum ({"ce": 1.0, "dice": 0.5})."""
    weights = {spec: 1.0} if isinstance(spec, str) else dict(spec)
    unknown = sorted(set(weights) - set(LOSSES))
    if unknown or not weights:
        raise ValueError(f"unknown loss {unknown or spec!r}; expected names from {sorted(LOSSES)}")

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * LOSSES[name](logits, target) for name, w in weights.items())

    return loss
