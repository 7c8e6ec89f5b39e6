"""The model shipped with the package: a training checkpoint cut down to what prediction
needs, and where ``octaseg predict`` finds it when no ``--checkpoint`` is given.

A ``best.pt`` holds the optimizer's state, the training history and more beside the
weights; :func:`export_checkpoint` keeps the model (float16 weights: half the size,
predictions equal up to float16 rounding), its settings and threshold, and where it came
from (``provenance``). The rule ship writes it to ``src/octaseg/weights/synthetic_unet.pt``
(``snakemake --cores all --configfile config/shipped.yaml ship``), which installs with the
package; :func:`load` reads any checkpoint back with float32 weights. Torch is imported
where it is used: the workflow reads the constants here when it parses.
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octaseg import __version__
from octaseg.io import InputError

if TYPE_CHECKING:
    import torch

#: The largest exported checkpoint, in bytes: it installs with the package.
MAX_BYTES = 10_000_000
#: The shipped model inside the package.
SHIPPED = ("weights", "synthetic_unet.pt")
#: An environment variable naming another file for ``octaseg predict`` to use instead.
WEIGHTS_ENV = "OCTASEG_WEIGHTS"
#: The command that builds the shipped model (from the repository's root).
BUILD_COMMAND = "snakemake --cores all --configfile config/shipped.yaml ship"
#: What an exported checkpoint says it is.
FORMAT = "octaseg-export/1"


def serialized_size(ckpt: Mapping[str, Any]) -> int:
    """Bytes ``torch.save`` writes for ``ckpt``."""
    import torch

    buffer = io.BytesIO()
    torch.save(dict(ckpt), buffer)
    return buffer.tell()


def _half(tensor: torch.Tensor) -> torch.Tensor:
    """A floating tensor as float16, unless float16 cannot hold it (beyond +-65504): then
    as float32; other tensors (BatchNorm's step count) unchanged."""
    import torch

    tensor = tensor.detach().cpu()
    if not tensor.is_floating_point():
        return tensor.clone()
    half = tensor.to(torch.float16)
    if bool(torch.isfinite(half).all()) or not bool(torch.isfinite(tensor).all()):
        return half
    return tensor.to(torch.float32).clone()


def export_checkpoint(
    ckpt: Mapping[str, Any],
    provenance: Mapping[str, Any],
    settings: Mapping[str, Any] | None = None,
    max_bytes: int = MAX_BYTES,
) -> dict[str, Any]:
    """What prediction needs of a training checkpoint (best.pt), plus its provenance.

    Keeps the model's weights (floating ones as float16), ``model_spec``, the settings
    (``settings`` override the checkpoint's: training stores its settings without the
    prediction-only ones, such as ``tta``) and the threshold (0.5 where none was stored).
    ``provenance`` (what it was trained on: experiment, data, generator) gets the
    training's length and result from the checkpoint (epochs, steps per epoch, batch and
    patch size, best epoch and its validation Dice) and the date, unless it has them.
    Raises ValueError when the result would serialize to more than ``max_bytes``.
    """
    missing = [key for key in ("model", "model_spec", "settings") if key not in ckpt]
    if missing:
        raise ValueError(f"expected an octaseg training checkpoint, missing {', '.join(missing)}")
    merged = {**ckpt["settings"], **(settings or {})}
    training = {k: merged.get(k) for k in ("epochs", "steps_per_epoch", "batch_size", "patch_size")}
    training.update(best_epoch=ckpt.get("epoch"), val_dice=ckpt.get("val_dice"))
    about = dict(provenance)
    about.setdefault("training", {k: v for k, v in training.items() if v is not None})
    about.setdefault("date", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    exported = {
        "format": FORMAT,
        "model": {name: _half(value) for name, value in ckpt["model"].items()},
        "model_spec": dict(ckpt["model_spec"]),
        "settings": merged,
        "threshold": float(ckpt.get("threshold", 0.5)),
        "octaseg_version": ckpt.get("octaseg_version", __version__),
        "provenance": about,
    }
    size = serialized_size(exported)
    if size > max_bytes:
        raise ValueError(
            f"the exported checkpoint is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB it may "
            f"take in the package (model {dict(ckpt['model_spec'])}); ship a smaller model"
        )
    return exported


def full_precision(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """``ckpt`` with its model's floating weights as float32 (an exported checkpoint's are
    float16; a training checkpoint's are float32 already and come back as they are)."""
    import torch

    weights = {
        name: value.float() if torch.is_tensor(value) and value.is_floating_point() else value
        for name, value in ckpt["model"].items()
    }
    return {**ckpt, "model": weights}


def load(source: str | Path | Traversable) -> dict[str, Any]:
    """A checkpoint (training or exported) from a file or a package resource, with float32
    weights, read by :func:`octaseg.train.load_checkpoint`, which refuses arbitrary pickles."""
    from octaseg.train import load_checkpoint

    with (Path(source) if isinstance(source, str) else source).open("rb") as f:
        ckpt = load_checkpoint(f)
    if isinstance(ckpt, Mapping) and isinstance(ckpt.get("model"), Mapping):
        return full_precision(ckpt)
    return ckpt


def shipped_weights() -> Traversable:
    """The model ``octaseg predict`` uses without ``--checkpoint``: the file named by
    ``$OCTASEG_WEIGHTS`` when set, else the package's ``weights/synthetic_unet.pt``.
    Raises InputError when it is not there, saying how to build it."""
    named = os.environ.get(WEIGHTS_ENV)
    if named:
        if not Path(named).is_file():
            raise InputError(
                f"${WEIGHTS_ENV}={named}: no such file; point it at a model (an exported or "
                "training checkpoint), or unset it to use the one shipped with octaseg"
            )
        return Path(named)
    resource = files("octaseg").joinpath(*SHIPPED)
    if not resource.is_file():
        raise InputError(
            f"no --checkpoint given, and the model shipped with octaseg ({resource}) is not there: "
            "this copy of octaseg was installed from a checkout where it has not been built. Build it "
            f"in the repository with `{BUILD_COMMAND}` (it trains a model on CPU or GPU), set "
            f"${WEIGHTS_ENV} to a model file, or pass --checkpoint results/<experiment>/best.pt"
        )
    return resource
