"""Checkpoints: how training saves them, how anything loads one back safely and rebuilds
its model, and the model shipped with the package (a checkpoint cut down to what
prediction needs, and where ``octaseg predict`` finds it when no ``--checkpoint`` is given).

:func:`save_checkpoint` writes a plain dict of tensors and values atomically;
:func:`load_checkpoint` reads one with ``weights_only=True`` (no arbitrary pickles);
:func:`model_from_checkpoint` rebuilds the model its ``model_spec`` names and checks that
the weights are that model's; :func:`load_for_prediction` adds the checks a user's file
needs, and :func:`prediction_settings` and :func:`prediction_threshold` are the one place
where the settings a checkpoint stores meet the caller's overrides.

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
from typing import TYPE_CHECKING, Any, BinaryIO

from octaseg import __version__
from octaseg.io import InputError, atomic_path

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


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    import torch

    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Save a plain dict of tensors and plain values, atomically."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)


def plain(value: Any) -> Any:
    """Settings and other values as plain nested dicts/lists/scalars, which a checkpoint
    holds so that :func:`load_checkpoint` can read them with ``weights_only=True``."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def load_checkpoint(path: str | Path | BinaryIO, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` from a file or an open binary
    file; refuses arbitrary pickles."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def model_from_checkpoint(
    ckpt: Mapping[str, Any], path: str | Path | Traversable | None = None
) -> torch.nn.Module:
    """Rebuild the model a checkpoint was trained with and load its weights.

    A checkpoint that is not octaseg's, or whose weights are not those of the model its
    ``model_spec`` names (a checkpoint of another model, edited or mixed up), raises
    :class:`~octaseg.io.InputError` naming ``path`` (the file it was loaded from, when
    given), the model expected and what the weights hold instead.
    """
    from octaseg.models import build_model

    where = f"checkpoint {path}" if path is not None else "checkpoint"
    if not isinstance(ckpt, Mapping) or "model_spec" not in ckpt or "model" not in ckpt:
        found = f"keys {sorted(map(str, ckpt))[:6]}" if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise InputError(f"{where}: expected an octaseg checkpoint (model_spec, model, ...), found {found}")
    spec = dict(ckpt["model_spec"])
    try:
        model = build_model(spec.pop("name"), **spec)
    except (KeyError, TypeError, ValueError) as err:
        found = dict(ckpt["model_spec"])
        raise InputError(f"{where}: expected a model_spec octaseg can build, found {found} ({err})") from err
    weights = ckpt["model"]
    if not isinstance(weights, Mapping):
        found = type(weights).__name__
        raise InputError(f"{where}: expected the model's weights (a state dict), found a {found}")
    mismatch = _weights_mismatch(model.state_dict(), weights)
    if mismatch:
        raise InputError(
            f"{where}: expected the weights of model {dict(ckpt['model_spec'])} "
            f"({len(model.state_dict())} tensors), found the weights of another model ({mismatch})"
        )
    model.load_state_dict(weights)
    return model


def _weights_mismatch(expected: Mapping[str, torch.Tensor], weights: Mapping[str, Any]) -> str:
    """How ``weights`` differ from the state dict ``expected`` (missing, unexpected and
    misshapen tensors, three of each named), or "" when they match."""
    shape = {k: tuple(getattr(v, "shape", ())) for k, v in weights.items()}
    problems = {
        "missing": [k for k in expected if k not in weights],
        "unexpected": [k for k in weights if k not in expected],
        "shape": [
            f"{k} {shape[k]} instead of {tuple(v.shape)}"
            for k, v in expected.items()
            if k in weights and shape[k] != tuple(v.shape)
        ],
    }
    return "; ".join(
        f"{what} {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
        for what, items in problems.items()
        if items
    )


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
    merged = prediction_settings(ckpt, settings)
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
        "threshold": prediction_threshold(ckpt),
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
    weights, read by :func:`load_checkpoint`, which refuses arbitrary pickles."""
    with (Path(source) if isinstance(source, str) else source).open("rb") as f:
        ckpt = load_checkpoint(f)
    if isinstance(ckpt, Mapping) and isinstance(ckpt.get("model"), Mapping):
        return full_precision(ckpt)
    return ckpt


def load_for_prediction(source: str | Path | Traversable, where: str | None = None) -> dict[str, Any]:
    """A checkpoint to predict with (training or exported, :func:`load`), from a file or a
    package resource. A missing file, one torch cannot load safely, or one that is not an
    octaseg checkpoint (model_spec, settings, model) raises InputError naming ``where``
    (default: ``checkpoint <source>``)."""
    where = where or f"checkpoint {source}"
    source = Path(source) if isinstance(source, str) else source
    if not source.is_file():
        raise InputError(f"{where}: no such file")
    try:
        ckpt = load(source)
    except Exception as err:
        raise InputError(
            f"{where}: expected an octaseg checkpoint, "
            f"found a file torch cannot load safely ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(ckpt, dict) or "model_spec" not in ckpt or "settings" not in ckpt:
        found = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise InputError(
            f"{where}: expected an octaseg checkpoint (model_spec, settings, model), found {found}"
        )
    return ckpt


def prediction_settings(
    ckpt: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The settings to predict with: those ``ckpt`` stores (training stores its own,
    without prediction-only ones such as ``tta``), overridden by ``overrides`` where
    these are not None (an option left out on the command line)."""
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    return {**ckpt["settings"], **given}


def prediction_threshold(ckpt: Mapping[str, Any], override: float | None = None) -> float:
    """The probability threshold of the masks: ``override`` when given, else the one
    ``ckpt`` stores (chosen on validation with ``threshold: val``), else 0.5."""
    return float(override) if override is not None else float(ckpt.get("threshold", 0.5))


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
