"""Segmentation networks.

``build_model("unet", preset="seed")`` is the original study's 2D U-Net: 1 input channel,
base 64, 4 down / 4 up, BatchNorm, ConvTranspose2d(k=4, s=2, p=1), 2 classes:
39,398,274 parameters.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "unet": {
        "seed": {"in_channels": 1, "num_classes": 2, "base": 64, "depth": 4, "up_kernel": 4},
    },
}


class DoubleConv(nn.Sequential):
    """(Conv3x3 -> BatchNorm -> ReLU) x 2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """2D U-Net: input (B, in_channels, H, W) -> logits (B, num_classes, H, W).

    H and W must be multiples of 2**depth. ``up_kernel`` 4 is the original's
    ConvTranspose2d(k=4, s=2, p=1); 2 is the common ConvTranspose2d(k=2, s=2).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        base: int = 64,
        depth: int = 4,
        up_kernel: int = 4,
    ) -> None:
        super().__init__()
        if up_kernel not in (2, 4):
            raise ValueError(f"up_kernel must be 2 or 4, got {up_kernel}")
        if depth < 1 or base < 1:
            raise ValueError(f"depth and base must be positive, got depth={depth}, base={base}")
        self.depth = depth
        widths = [base * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths[:-1]:
            self.down.append(DoubleConv(cin, w))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.bottom = DoubleConv(widths[-2], widths[-1])
        pad = 1 if up_kernel == 4 else 0
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for w_hi, w_lo in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.up.append(nn.ConvTranspose2d(w_hi, w_lo, up_kernel, stride=2, padding=pad))
            self.merge.append(DoubleConv(2 * w_lo, w_lo))
        self.head = nn.Conv2d(base, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2**self.depth
        if x.shape[-1] % factor or x.shape[-2] % factor:
            raise ValueError(
                f"UNet of depth {self.depth} needs H and W divisible by {factor}, got {tuple(x.shape)}"
            )
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)


MODELS = {"unet": UNet}


def build_model(name: str, preset: str | None = None, **params: Any) -> nn.Module:
    """Build a model by name; ``preset`` gives base settings that ``params`` override."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    settings: dict[str, Any] = {}
    if preset is not None:
        presets = PRESETS.get(name, {})
        if preset not in presets:
            raise ValueError(
                f"unknown preset {preset!r} for model {name!r}; expected one of {sorted(presets)}"
            )
        settings.update(presets[preset])
    settings.update(params)
    return MODELS[name](**settings)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
