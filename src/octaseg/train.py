"""Training of a 2D segmentation model on random patches, validated on whole images.

``fit`` is the loop, readable top to bottom: per epoch ``steps_per_epoch`` batches of
augmented patches, then a sliding-window Dice on the validation images; the best epoch by
validation Dice is kept in ``best.pt``, the latest in ``last.pt``; the learning rate
follows a schedule (the original: x0.9 every 20 epochs); training stops early after
``patience`` epochs without improvement.

Reproducible and resumable: every epoch's random stream (patches, augmentation, torch)
is seeded from (seed, epoch) alone, and ``last.pt`` is written after every epoch and on
SIGTERM (what SLURM sends at walltime) after the step in flight. A run started again
with the same settings continues from ``last.pt``, replaying the random stream up to the
step it had reached, and ends where an uninterrupted run ends.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from octaseg import __version__, metrics
from octaseg.data import BlockSampler, PatchSampler
from octaseg.infer import predict_with_settings
from octaseg.io import InputError, atomic_path, write_csv
from octaseg.losses import build_loss
from octaseg.models import build_model
from octaseg.precision import resolve_amp

HISTORY_FIELDS = ["epoch", "loss", "val_dice", "lr", "seconds", "samples_per_s"]


class Interrupted(RuntimeError):
    """Training stopped by SIGTERM/SIGINT after saving its state to last.pt."""


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Save a plain dict of tensors and plain values, atomically."""
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)


def load_checkpoint(path: str | Path | BinaryIO, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` from a file or an open binary
    file; refuses arbitrary pickles."""
    return torch.load(path, map_location=map_location, weights_only=True)


def model_from_checkpoint(ckpt: Mapping[str, Any], path: str | Path | None = None) -> torch.nn.Module:
    """Rebuild the model a checkpoint was trained with and load its weights.

    A checkpoint that is not octaseg's, or whose weights are not those of the model its
    ``model_spec`` names (a checkpoint of another model, edited or mixed up), raises
    :class:`~octaseg.io.InputError` naming ``path`` (the file it was loaded from, when
    given), the model expected and what the weights hold instead.
    """
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
    expected = model.state_dict()
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
    if any(problems.values()):
        found = "; ".join(
            f"{what} {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
            for what, items in problems.items()
            if items
        )
        raise InputError(
            f"{where}: expected the weights of model {dict(ckpt['model_spec'])} "
            f"({len(expected)} tensors), found the weights of another model ({found})"
        )
    model.load_state_dict(weights)
    return model


def lr_factor(epoch: int, settings: Mapping[str, Any]) -> float:
    """Learning-rate multiplier for a 0-based epoch: ``step`` (x lr_gamma every
    lr_step_epochs), ``cosine`` (to 0 over all epochs) or ``poly`` ((1 - e/E) ** 0.9)."""
    schedule, total = settings.get("lr_schedule", "step"), settings["epochs"]
    if schedule == "step":
        return settings["lr_gamma"] ** (epoch // settings["lr_step_epochs"])
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * epoch / total))
    if schedule == "poly":
        return (1 - epoch / total) ** 0.9
    raise ValueError(f"unknown lr_schedule {schedule!r}; expected step, cosine or poly")


def make_optimizer(model: torch.nn.Module, settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    name, decay = settings.get("optimizer", "adam"), settings.get("weight_decay", 0.0)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=settings["lr"], weight_decay=decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=settings["lr"], weight_decay=decay)
    raise ValueError(f"unknown optimizer {name!r}; expected adam or adamw")


def validation_dice(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    settings: Mapping[str, Any],
    device: torch.device,
) -> float:
    """Mean Dice of the thresholded (>= 0.5) sliding-window probability over images."""
    scores = []
    for image, mask in zip(images, masks, strict=True):
        prob = predict_with_settings(model, image, settings, device)
        scores.append(metrics.dice(metrics.confusion(prob >= 0.5, mask)))
    return float(np.mean(scores))


class _StopFlag:
    """Turns SIGTERM/SIGINT into a flag checked between steps, for the loop's lifetime."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError):  # not the main thread: signals stay as they are
                self._previous[sig] = signal.signal(sig, self._set)
        return self

    def _set(self, signum: int, _frame: Any) -> None:
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def fit(
    sampler: PatchSampler | BlockSampler,
    val_images: Sequence[np.ndarray],
    val_masks: Sequence[np.ndarray],
    settings: Mapping[str, Any],
    out_dir: str | Path,
    log: Callable[[str], None] = print,
    resume_key: Any = None,
) -> list[dict[str, float]]:
    """Train on batches from ``sampler``, validate on whole normalized images (H, W) or
    (C, H, W) (volumes (D, H, W) for IPN) against bool masks (H, W); write best.pt, last.pt
    and history.csv to ``out_dir``; resume from ``out_dir/last.pt`` if it holds an
    unfinished run with the same settings and ``resume_key`` (any plain value naming the
    training data, e.g. its file list; a run on other data starts afresh). Returns the
    per-epoch history.

    ``settings``: model (name and parameters), loss, optimizer, lr, weight_decay,
    lr_schedule, lr_step_epochs, lr_gamma, epochs, steps_per_epoch, batch_size,
    patch_size, patience, seed, amp, device, window, stride, predict_batch_size.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(settings.get("device", "auto"))
    model_spec = dict(settings["model"])
    model_spec.setdefault("in_channels", sampler.channels)
    torch.manual_seed(settings["seed"])
    spec = dict(model_spec)
    model = build_model(spec.pop("name"), **spec).to(device)
    plain_settings = _plain(settings)
    last_path = out_dir / "last.pt"
    state = _resumable_state(last_path, device, plain_settings, _plain(resume_key), log)
    # a resumed run keeps the precision it started with
    amp = (
        bool(state.get("amp", settings["amp"]))
        if state
        else resolve_amp(settings["amp"], device, model, sampler, settings, log)
    )
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    run_settings = {**settings, "amp": amp}  # validation predicts in the same precision
    channels_last = amp and device.type == "cpu" and not getattr(model, "volumetric", False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(settings["loss"])
    optimizer = make_optimizer(model, settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, settings))
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")

    history: list[dict[str, float]] = []
    best, since_best, start_epoch, start_step, epoch_losses = -math.inf, 0, 1, 0, []
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history, best, since_best = list(state["history"]), state["best_score"], state["since_best"]
        start_epoch, start_step, epoch_losses = state["epoch"], state["step"], list(state["epoch_losses"])
        # saved at an epoch's end (validated, in the history): go on with the next one;
        # a SIGTERM after an epoch's last step but before its validation finishes it
        if history and int(history[-1]["epoch"]) == start_epoch:
            start_epoch, start_step, epoch_losses = start_epoch + 1, 0, []
        log(f"resuming from {last_path}: epoch {start_epoch}, step {start_step}")

    def state_dict(epoch: int, step: int, finished: bool = False) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(),
            "epoch": epoch,
            "step": step,
            "epoch_losses": list(epoch_losses),
            "history": history,
            "best_score": best,
            "since_best": since_best,
            "finished": finished,
            "amp": amp,
            "val_dice": history[-1]["val_dice"] if history else float("nan"),
            "model_spec": model_spec,
            "settings": plain_settings,
            "resume_key": _plain(resume_key),
            "octaseg_version": __version__,
        }

    log(
        f"training {model_spec} on {device} (amp={amp}), "
        f"{len(sampler.masks)} train / {len(val_images)} val subjects"
    )
    steps = settings["steps_per_epoch"]
    with _StopFlag() as stop:
        for epoch in range(start_epoch, settings["epochs"] + 1):
            if since_best >= settings["patience"]:
                break
            # the epoch's random stream depends on (seed, epoch) alone: resumable exactly
            sampler.reseed(settings["seed"] * 100_003 + epoch)
            torch.manual_seed(settings["seed"] * 100_003 + epoch)
            for _ in range(start_step):  # replay the patches a resumed epoch already used
                sampler.batch(settings["batch_size"])
            start = time.perf_counter()
            model.train()
            bar = _progress(epoch, steps, start_step)
            for step in range(start_step + 1, steps + 1):
                x, y = sampler.batch(settings["batch_size"])
                x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                    loss = loss_fn(model(x), y)
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"epoch {epoch} step {step}: loss is {loss.item()}; stopping rather than "
                        "saving a broken model (lower lr, or check the input images)"
                    )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                epoch_losses.append(loss.item())
                if bar is not None:
                    bar.set_postfix(loss=f"{loss.item():.4f}")
                    bar.update()
                if stop.signal is not None:
                    save_checkpoint(last_path, state_dict(epoch, step))
                    name = signal.Signals(stop.signal).name
                    log(f"{name} at epoch {epoch} step {step}: state saved to {last_path}")
                    raise Interrupted(f"training stopped by {name}; run again to resume from {last_path}")
            if bar is not None:
                bar.close()
            seconds = time.perf_counter() - start
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            val = validation_dice(model, val_images, val_masks, run_settings, device)
            improved = val > best
            best, since_best = (val, 0) if improved else (best, since_best + 1)
            history.append(
                {
                    "epoch": epoch,
                    "loss": float(np.mean(epoch_losses)),
                    "val_dice": val,
                    "lr": lr,
                    "seconds": seconds,
                    "samples_per_s": (steps - start_step) * settings["batch_size"] / seconds,
                }
            )
            start_step, epoch_losses = 0, []
            done = epoch == settings["epochs"] or since_best >= settings["patience"]
            if improved:
                save_checkpoint(out_dir / "best.pt", state_dict(epoch, steps))
            save_checkpoint(last_path, state_dict(epoch, steps, finished=done))
            write_csv(out_dir / "history.csv", history, HISTORY_FIELDS)
            row = history[-1]
            log(
                f"epoch {epoch:3d}  loss {row['loss']:.4f}  val_dice {val:.4f}  lr {lr:.2e}  "
                f"{seconds:.1f}s ({row['samples_per_s']:.0f} samples/s){'  *best' if improved else ''}"
            )
            if since_best >= settings["patience"]:
                log(f"early stop: no val_dice improvement for {since_best} epochs (best {best:.4f})")
    store_threshold(out_dir / "best.pt", val_images, val_masks, run_settings, device, log)
    return history


def _resumable_state(
    path: Path, device: torch.device, settings: Any, resume_key: Any, log: Callable[[str], None]
) -> dict[str, Any] | None:
    """The state in ``path`` (last.pt) if it holds an unfinished run with these settings
    and training data, else None."""
    if not path.exists():
        return None
    state = load_checkpoint(path, device)
    if state.get("settings") != settings or state.get("resume_key") != resume_key or state.get("finished"):
        log(f"{path}: from another run or finished; starting afresh")
        return None
    return state


def store_threshold(
    best_path: Path,
    val_images: Sequence[np.ndarray],
    val_masks: Sequence[np.ndarray],
    settings: Mapping[str, Any],
    device: torch.device,
    log: Callable[[str], None],
) -> float:
    """Write the probability threshold prediction uses into ``best.pt`` and return it:
    ``settings["threshold"]`` when a number (default 0.5), or with ``val`` the one with
    the best mean Dice of the best model on the validation images
    (:func:`octaseg.metrics.choose_threshold`)."""
    ckpt = load_checkpoint(best_path, device)
    setting = settings.get("threshold", 0.5)
    if setting != "val":
        ckpt["threshold"] = float(setting)
    else:
        model = model_from_checkpoint(ckpt, best_path).to(device)
        probabilities = [predict_with_settings(model, image, settings, device) for image in val_images]
        ckpt["threshold"], dice = metrics.choose_threshold(probabilities, val_masks)
        at_half = metrics.choose_threshold(probabilities, val_masks, np.array([0.5]))[1]
        log(
            f"threshold {ckpt['threshold']:.2f} chosen on validation: Dice {dice:.4f} (at 0.5: {at_half:.4f})"
        )
    save_checkpoint(best_path, ckpt)
    return ckpt["threshold"]


def _progress(epoch: int, steps: int, done: int):
    """A progress bar with loss and speed on a terminal; None in logs (plain lines instead)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=steps, initial=done, desc=f"epoch {epoch}", unit="batch", leave=False)


def _plain(value: Any) -> Any:
    """Settings as plain nested dicts/lists/scalars, loadable with weights_only=True."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
