"""Segmentation networks.

``build_model("unet", preset="seed")`` is the original study's 2D U-Net: 1 input channel,
base 64, 4 down / 4 up, BatchNorm, ConvTranspose2d(k=4, s=2, p=1), 2 classes:
39,398,274 parameters.

``build_model("ipn", preset="seed")`` is its Image Projection Network (3D -> 2D): five
projection-learning modules of three Conv3d(64, k=3) + ReLU and a max-pool along depth
only (160 -> 32 -> 8 -> 4 -> 2 -> 1), then Conv3d(64 -> 2, k=3): 1,554,434 parameters for
a 1 x 160 x 100 x 100 block.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from octaseg.presets import PRESETS, pooled_depth


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
    ConvTranspose2d(k=4, s=2, p=1); 2 is the common ConvTranspose2d(k=2, s=2). The encoder
    is ``down`` and ``bottom``, the decoder ``up``, ``merge`` and ``head``
    (:data:`octaseg.presets.ENCODER_MODULES`, what ``freeze_encoder_epochs`` freezes).
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


class IPN(nn.Module):
    """Image Projection Network: volume block (B, C, D, H, W) -> logits (B, K, H, W).

    Each projection-learning module is ``convs`` Conv3d(k=3, padding=1) + ReLU followed by
    a max-pool over depth only, by the module's factor in ``pools``; the depth D must equal
    the product of ``pools`` (160 for the original 5 * 4 * 2 * 2 * 2), so that the last
    module leaves one depth slice. H and W are free: the network is fully convolutional
    in-plane.
    """

    #: takes volume blocks (B, C, D, H, W), not images
    volumetric = True

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 2,
        channels: int = 64,
        pools: tuple[int, ...] | list[int] = (5, 4, 2, 2, 2),
        convs: int = 3,
    ) -> None:
        super().__init__()
        if not pools or any(p < 1 for p in pools) or channels < 1 or convs < 1:
            raise ValueError(f"bad IPN settings: channels={channels}, pools={pools}, convs={convs}")
        self.pools = tuple(int(p) for p in pools)
        self.in_channels = in_channels
        blocks = []
        cin = in_channels
        for pool in self.pools:
            layers: list[nn.Module] = []
            for _ in range(convs):
                layers += [nn.Conv3d(cin, channels, 3, padding=1), nn.ReLU(inplace=True)]
                cin = channels
            layers.append(nn.MaxPool3d((pool, 1, 1)))
            blocks.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Conv3d(channels, num_classes, 3, padding=1)
        # He initialization: without it (PyTorch's default keeps a third of the variance
        # per layer) the signal fades through the twelve ReLU convolutions and the network
        # predicts background alone for hundreds of steps before it starts learning
        for conv in self.modules():
            if isinstance(conv, nn.Conv3d):
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
                nn.init.zeros_(conv.bias)

    @property
    def depth(self) -> int:
        """The block depth the network takes: the product of its pooling factors."""
        return pooled_depth(self.pools)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 5 or x.shape[2] != self.depth:
            raise ValueError(
                f"IPN with pools {self.pools} needs blocks (B, C, {self.depth}, H, W), got {tuple(x.shape)}"
            )
        return self.head(self.blocks(x))[:, :, 0]


MODELS = {"unet": UNet, "ipn": IPN}


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
