"""Every loss: differentiable, lower for a better prediction, exact on hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch

from octaseg.losses import LOSSES, build_loss, cldice, cross_entropy, soft_dice, soft_iou, soft_skeleton


def logits_for(prob: torch.Tensor, classes: int) -> torch.Tensor:
    """Logits (B, C, H, W) whose vessel probability is exactly ``prob`` (B, H, W)."""
    logit = torch.log(prob / (1 - prob))
    if classes == 1:
        return logit[:, None]
    return torch.stack([torch.zeros_like(logit), logit], 1)


@pytest.fixture
def target() -> torch.Tensor:
    t = torch.zeros(2, 16, 16, dtype=torch.long)
    t[:, 6:9, 2:14] = 1  # a 3 px wide vessel
    return t


@pytest.mark.parametrize("classes", [1, 2])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_differentiable_and_prefers_better(name, classes, target):
    loss = LOSSES[name]
    good = logits_for(target.float() * 0.8 + 0.1, classes).requires_grad_(True)
    value = loss(good, target)
    value.backward()
    assert good.grad is not None and torch.isfinite(good.grad).all() and good.grad.abs().sum() > 0
    worse = logits_for(target.float() * 0.4 + 0.3, classes)
    wrong = logits_for(0.9 - target.float() * 0.8, classes)
    assert value < loss(worse, target) < loss(wrong, target)


@pytest.mark.parametrize("classes", [1, 2])
def test_exact_values(classes):
    n, p = 4 * 5, 0.7
    target = torch.ones(1, 4, 5, dtype=torch.long)
    logits = logits_for(torch.full((1, 4, 5), p), classes)
    assert cross_entropy(logits, target).item() == pytest.approx(-math.log(p), rel=1e-5)
    assert soft_iou(logits, target).item() == pytest.approx(1 - (n * p + 1) / (n + 1), rel=1e-5)
    assert soft_dice(logits, target).item() == pytest.approx(1 - (2 * n * p + 1) / (n * p + n + 1), rel=1e-5)
    half = torch.zeros(1, classes, 4, 5)
    assert cross_entropy(half, target).item() == pytest.approx(math.log(2), rel=1e-6)


def test_soft_skeleton_of_a_bar_is_its_centre_line():
    bar = torch.zeros(1, 15, 30)
    bar[0, 5:10, 3:27] = 1  # 5 px wide, 24 long
    skeleton = soft_skeleton(bar)
    assert skeleton[0, 7, 5:25].min() > 0.99  # the centre row is on the skeleton
    assert skeleton[0, 5].max() == 0 and skeleton[0, 9].max() == 0  # the borders are not
    assert skeleton.sum().item() == pytest.approx(24, abs=6)


def test_cldice_perfect_and_broken(target):
    perfect = logits_for(target.float().clamp(1e-4, 1 - 1e-4), 2)
    assert cldice(perfect, target).item() < 0.01
    broken = target.clone()
    broken[:, :, 6:10] = 0  # a gap cuts the vessel in two: topology is wrong
    assert cldice(logits_for(broken.float().clamp(1e-4, 1 - 1e-4), 2), target) > 0.1


def test_weighted_sum_and_unknown_name(target):
    logits = logits_for(target.float() * 0.8 + 0.1, 2)
    combined = build_loss({"ce": 1.0, "dice": 0.5})(logits, target)
    assert combined.item() == pytest.approx(
        (cross_entropy(logits, target) + 0.5 * soft_dice(logits, target)).item()
    )
    with pytest.raises(ValueError, match="focal"):
        build_loss("focal")
    with pytest.raises(ValueError, match=r"\(2, 3, 16, 16\)"):
        cross_entropy(torch.zeros(2, 3, 16, 16), target)
