"""Fine-tuning: a training that starts from a trained model's weights instead of random ones.

``init_from`` (an experiment setting) names the weights: a training checkpoint
(``best.pt``, ``last.pt``), an exported one (float16 weights, read back as float32), or
the word ``shipped`` for the model installed with the package
(:func:`octaseg.checkpoints.shipped_weights`: the file ``$OCTASEG_WEIGHTS`` names, else the
package's). A relative path is read from the working directory (Snakemake's
``--directory``). The file is read safely (``weights_only``) and must hold the weights of
the experiment's own network: a checkpoint of another shape is refused. Only the weights
are taken: the optimizer, the learning-rate schedule and the epochs start afresh.

``freeze_encoder_epochs: K`` trains the decoder and the head alone for the first K epochs,
then every layer: the encoder is what :data:`octaseg.presets.ENCODER_MODULES` names (the
U-Net's down blocks and bottom block); the frozen encoder's BatchNorm statistics still
follow the new data. Whether the encoder is frozen depends on the epoch alone, so a
resumed run freezes as an uninterrupted one.

Torch is not imported here: the workflow calls :func:`init_path` and
:func:`check_fine_tuning` while it parses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octaseg.checkpoints import _weights_mismatch, load_for_prediction, shipped_weights
from octaseg.io import InputError
from octaseg.presets import ENCODER_MODULES

if TYPE_CHECKING:
    import torch

#: The ``init_from`` value that names the model shipped with the package.
SHIPPED = "shipped"


def init_path(setting: str) -> Path:
    """The file ``init_from`` names: for ``shipped`` the shipped model's (an InputError
    saying how to build it when it is not there), else the path as given (a relative one
    is read from the working directory)."""
    if setting != SHIPPED:
        return Path(setting)
    try:
        return Path(str(shipped_weights()))
    except InputError as err:
        raise InputError(f"init_from: {SHIPPED}: {err}") from err


def _existing(setting: str) -> Path:
    """:func:`init_path`, which must be a file: else an InputError naming the setting, the
    path and the working directory a relative path is read from."""
    path = init_path(setting)
    if not path.is_file():
        raise InputError(
            f"init_from: {setting}: no such file {path.resolve()} (a relative path is read from "
            f"the working directory, {Path.cwd()}); name a checkpoint (best.pt, last.pt or an "
            f"exported model), {SHIPPED}, or null to start from random weights"
        )
    return path


def check_init_from(
    setting: str | None, where: str, made_here: Collection[str | Path] = (), own: Collection[str | Path] = ()
) -> None:
    """That ``init_from`` names a file before anything runs: an InputError prefixed with
    ``where`` (such as ``experiments.tuned``) otherwise. ``made_here`` are the checkpoints
    the workflow writes (other experiments' best.pt and last.pt), which may be still to
    come; ``own`` the experiment's own, which it cannot start from (a ValueError)."""
    if setting is None:
        return
    if setting != SHIPPED and Path(setting) in {Path(p) for p in own}:
        raise ValueError(
            f"{where}: init_from: {setting} is the experiment's own checkpoint, which its training "
            "writes; copy it elsewhere and name the copy"
        )
    if setting != SHIPPED and Path(setting) in {Path(p) for p in made_here}:
        return
    try:
        _existing(setting)
    except InputError as err:
        raise InputError(f"{where}: {err}") from err


def check_fine_tuning(settings: Mapping[str, Any], where: str) -> None:
    """``freeze_encoder_epochs`` needs weights to keep (``init_from``) and a model whose
    encoder is defined (:data:`~octaseg.presets.ENCODER_MODULES`): a ValueError prefixed
    with ``where``, naming the value, otherwise."""
    epochs = settings.get("freeze_encoder_epochs") or 0
    if not epochs:
        return
    if settings.get("init_from") is None:
        raise ValueError(
            f"{where}: freeze_encoder_epochs: {epochs} keeps the encoder of the weights init_from "
            "loads, but init_from is null (random weights); set init_from (a checkpoint or "
            f"{SHIPPED}), or freeze_encoder_epochs: 0"
        )
    name = settings["model"]["name"]
    if name not in ENCODER_MODULES:
        defined = ", ".join(f"{m} ({' and '.join(parts)})" for m, parts in ENCODER_MODULES.items())
        raise ValueError(
            f"{where}: freeze_encoder_epochs: {epochs}: model {name} has no encoder to freeze; "
            f"it is defined for {defined}; set freeze_encoder_epochs: 0"
        )


def init_identity(setting: str) -> dict[str, str]:
    """What a run starts from: the setting and the SHA-256 of the file it names."""
    with _existing(setting).open("rb") as f:
        return {"init_from": setting, "sha256": hashlib.file_digest(f, "sha256").hexdigest()}


def init_resume_key(data: Any, settings: Mapping[str, Any]) -> Any:
    """The key a resumed run must match (:func:`octaseg.train.fit`): ``data`` (the
    training data's), and with ``init_from`` also the identity of the weights it started
    from (:func:`init_identity`), so that a half-done run from other weights is not
    resumed."""
    setting = settings.get("init_from")
    return data if setting is None else {"data": data, "init": init_identity(setting)}


def initialize(
    model: torch.nn.Module,
    model_spec: Mapping[str, Any],
    settings: Mapping[str, Any],
    log: Callable[[str], None],
) -> None:
    """Load the weights ``settings["init_from"]`` names into ``model`` (nothing when it is
    null). An InputError names the file when it is missing, cannot be loaded safely, is no
    octaseg checkpoint, or holds another model's weights: then also the experiment's
    model (``model_spec``), the checkpoint's and the tensors that differ (the checkpoint's
    shape, then the model's)."""
    setting = settings.get("init_from")
    if setting is None:
        return
    path = _existing(setting)
    where = f"init_from {setting}" if str(path) == setting else f"init_from {setting} ({path})"
    ckpt = load_for_prediction(path, where=where)
    mismatch = _weights_mismatch(model.state_dict(), ckpt["model"])
    if mismatch:
        raise InputError(
            f"{where}: holds the weights of model {dict(ckpt['model_spec'])}, which do not fit the "
            f"experiment's model {dict(model_spec)}: {mismatch}; train the experiment with the "
            "checkpoint's model settings, or start it from another checkpoint"
        )
    model.load_state_dict(ckpt["model"])
    log(f"weights from {where}: model {dict(ckpt['model_spec'])}; optimizer and schedule start afresh")


def freeze_encoder(
    model: torch.nn.Module, epoch: int, settings: Mapping[str, Any], log: Callable[[str], None]
) -> bool:
    """Before (1-based) ``epoch``: freeze the encoder while ``epoch <=
    freeze_encoder_epochs``, unfreeze it after (logged when it changes); returns whether
    it is frozen. Nothing is touched with ``freeze_encoder_epochs`` 0 (or unset); other
    settings that cannot freeze raise as :func:`check_fine_tuning` says."""
    epochs = settings.get("freeze_encoder_epochs") or 0
    if not epochs:
        return False
    check_fine_tuning(settings, "settings")
    frozen = epoch <= epochs
    modules = ENCODER_MODULES[settings["model"]["name"]]
    weights = [w for name in modules for w in getattr(model, name).parameters()]
    if any(w.requires_grad == frozen for w in weights):
        for w in weights:
            w.requires_grad_(not frozen)
        count = sum(w.numel() for w in weights)
        if frozen:
            log(f"encoder ({', '.join(modules)}: {count} weights) frozen up to epoch {epochs}")
        else:
            log(f"encoder unfrozen from epoch {epoch}: every layer trains")
    return frozen
