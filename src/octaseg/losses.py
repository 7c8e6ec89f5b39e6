"""Segmentation losses on logits (B, C, H, W) and integer targets (B, H, W).

Two output conventions are supported everywhere: C = 2 (background/vessel, softmax, the
original study's) and C = 1 (a single vessel logit, sigmoid). Each loss is a plain
function; :func:`build_loss` turns a config entry, a name or a mapping of names to
weights, into one callable weighted sum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(logits: torch.Tensor, target: torch.Tensor) -> None:
    if (
        logits.ndim != 4
        or logits.shape[1] not in (1, 2)
        or target.shape != logits.shape[:1] + logits.shape[2:]
    ):
        raise ValueError(
            f"expected logits (B, 1 or 2, H, W) and target (B, H, W), got {tuple(logits.shape)} "
            f"and {tuple(target.shape)}"
        )


def vessel_probability(logits: torch.Tensor) -> torch.Tensor:
    """Vessel probability (B, H, W) from 2-class (softmax) or 1-class (sigmoid) logits."""
    logits = logits.float()
    if logits.shape[1] == 2:
        return torch.softmax(logits, dim=1)[:, 1]
    return torch.sigmoid(logits[:, 0])


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (2 classes) or binary cross-entropy with logits (1 class)."""
    _check(logits, target)
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0].float(), target.float())
    return F.cross_entropy(logits.float(), target.long())


def soft_iou(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft IoU of the vessel probability over the whole batch (the original's 1-IoU)."""
    _check(logits, target)
    prob, t = vessel_probability(logits), target.float()
    inter = (prob * t).sum()
    return 1 - (inter + eps) / (prob.sum() + t.sum() - inter + eps)


def soft_dice(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of the vessel probability over the whole batch."""
    _check(logits, target)
    prob, t = vessel_probability(logits), target.float()
    return 1 - (2 * (prob * t).sum() + eps) / (prob.sum() + t.sum() + eps)


def soft_skeleton(prob: torch.Tensor, iterations: int = 10) -> torch.Tensor:
    """Differentiable skeleton of a probability map (B, H, W) by iterated soft
    erosion/opening (min/max pooling), as in clDice (Shit et al., CVPR 2021)."""
    x = prob[:, None]

    def erode(a: torch.Tensor) -> torch.Tensor:
        return torch.minimum(-F.max_pool2d(-a, (3, 1), 1, (1, 0)), -F.max_pool2d(-a, (1, 3), 1, (0, 1)))

    def dilate(a: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(a, 3, 1, 1)

    skeleton = F.relu(x - dilate(erode(x)))
    for _ in range(iterations):
        x = erode(x)
        delta = F.relu(x - dilate(erode(x)))
        skeleton = skeleton + F.relu(delta - skeleton * delta)
    return skeleton[:, 0]


def cldice(
    logits: torch.Tensor, target: torch.Tensor, iterations: int = 10, eps: float = 1.0
) -> torch.Tensor:
    """1 - clDice: harmonic mean of the fraction of the predicted skeleton inside the
    target and of the target skeleton inside the prediction (topology-aware)."""
    _check(logits, target)
    prob, t = vessel_probability(logits), target.float()
    skel_pred, skel_true = soft_skeleton(prob, iterations), soft_skeleton(t, iterations)
    tprec = ((skel_pred * t).sum() + eps) / (skel_pred.sum() + eps)
    tsens = ((skel_true * prob).sum() + eps) / (skel_true.sum() + eps)
    return 1 - 2 * tprec * tsens / (tprec + tsens)


LOSSES: dict[str, Loss] = {"ce": cross_entropy, "iou": soft_iou, "dice": soft_dice, "cldice": cldice}


def build_loss(spec: str | Mapping[str, float]) -> Loss:
    """A loss from a name ("ce") or a weighted sum ({"ce": 1.0, "cldice": 0.5})."""
    weights = {spec: 1.0} if isinstance(spec, str) else dict(spec)
    unknown = sorted(set(weights) - set(LOSSES))
    if unknown or not weights:
        raise ValueError(f"unknown loss {unknown or spec!r}; expected names from {sorted(LOSSES)}")

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return sum(w * LOSSES[name](logits, target) for name, w in weights.items())

    return loss
