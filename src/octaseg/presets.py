"""What a model setting says about the network before it is built, without torch: the
models' presets, the depth of the volume blocks an IPN takes, and what a model's encoder is.

:mod:`octaseg.models` builds the networks from these; the workflow reads them while it
parses (an IPN experiment's block depth names its input files), where importing torch
would cost seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

#: Depth pooling of the original IPN: 160 -> 32 -> 8 -> 4 -> 2 -> 1.
IPN_SEED_POOLS = (5, 4, 2, 2, 2)

#: Model name -> preset name -> the model's parameters (``build_model(name, preset=...)``).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "unet": {
        "seed": {"in_channels": 1, "num_classes": 2, "base": 64, "depth": 4, "up_kernel": 4},
    },
    "ipn": {
        "seed": {"in_channels": 1, "num_classes": 2, "channels": 64, "pools": IPN_SEED_POOLS},
    },
}

#: Model name -> the modules that make up its encoder, which ``freeze_encoder_epochs``
#: freezes (:mod:`octaseg.finetune`): the U-Net's down blocks and its bottom block (max
#: pooling has no weights); the rest (``up``, ``merge``, ``head``) is its decoder. The IPN
#: has no encoder-decoder split.
ENCODER_MODULES: dict[str, tuple[str, ...]] = {"unet": ("down", "bottom")}


def pooled_depth(pools: Sequence[int]) -> int:
    """The depth an IPN with these depth pools takes: their product (its last module
    leaves one slice)."""
    return math.prod(int(p) for p in pools)


def block_depth(model: Mapping[str, Any]) -> int:
    """Depth rows of the volume blocks an IPN model setting (name, preset and/or pools)
    takes: the product of its pools, given or its preset's (160 for the original)."""
    preset = PRESETS.get(model.get("name"), {}).get(model.get("preset"), {})
    pools = model.get("pools") or preset.get("pools")
    if model.get("name") != "ipn" or not pools:
        raise ValueError(f"input 'volume' needs model ipn with preset seed or pools, got {dict(model)}")
    return pooled_depth(pools)
