"""Training of a 2D segmentation model on random patches, validated on whole images.

``fit`` is the loop, readable top to bottom: :func:`start` (a fresh run, or the one
``last.pt`` holds), then per epoch :func:`train_epoch` (``steps_per_epoch`` batches of
augmented patches, :func:`train_step` each) and :func:`end_epoch` (a sliding-window Dice
on the validation images; the best epoch by validation Dice is kept in ``best.pt``, the
latest in ``last.pt``). Everything the loop changes is one :class:`TrainState`, which
saves and restores itself; what stays fixed is one :class:`Run`. The learning rate
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
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from octaseg import __version__, metrics
from octaseg.checkpoints import load_checkpoint, model_from_checkpoint, pick_device, plain, save_checkpoint
from octaseg.data import BlockSampler, PatchSampler
from octaseg.finetune import freeze_encoder, init_resume_key, initialize
from octaseg.infer import predict_with_settings
from octaseg.io import write_csv
from octaseg.logs import progress_bar
from octaseg.losses import build_loss
from octaseg.models import build_model
from octaseg.precision import resolve_amp

#: The files :func:`fit` writes into its folder: the best epoch's state, the latest
#: (resumable) state, and the per-epoch history.
BEST, LAST, HISTORY = "best.pt", "last.pt", "history.csv"
HISTORY_FIELDS = ["epoch", "loss", "val_dice", "lr", "seconds", "samples_per_s"]

Sampler = PatchSampler | BlockSampler
#: What a :class:`TrainState` saves of itself and restores: the state dicts of its
#: model, optimizer, schedule and scaler, and where the run is.
STATE_DICTS = ("model", "optimizer", "scheduler", "scaler")
PROGRESS = ("epoch", "step", "epoch_losses", "history", "best_score", "since_best")


class Interrupted(RuntimeError):
    """Training stopped by SIGTERM/SIGINT after saving its state to last.pt."""


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


@dataclass
class TrainState:
    """Everything a run changes as it goes (model, optimizer, schedule, scaler, the steps
    of ``epoch`` done and their losses, history, early-stopping counters) and what run it
    is (precision, model, plain settings, the data's ``resume_key``, which a resumed run
    must match). :meth:`checkpoint` is what best.pt and last.pt hold, :meth:`restore`
    takes it back."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp: bool
    model_spec: dict[str, Any]
    settings: dict[str, Any]
    resume_key: Any
    epoch: int = 1
    step: int = 0
    epoch_losses: list[float] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)
    best_score: float = -math.inf
    since_best: int = 0

    def checkpoint(self, finished: bool = False) -> dict[str, Any]:
        """The state as a plain dict of tensors and values (``finished``: the run is over)."""
        state = {name: getattr(self, name).state_dict() for name in STATE_DICTS}
        state.update({name: _copied(getattr(self, name)) for name in PROGRESS})
        val_dice = self.history[-1]["val_dice"] if self.history else float("nan")
        state.update(finished=finished, amp=self.amp, val_dice=val_dice, model_spec=self.model_spec)
        state.update(settings=self.settings, resume_key=self.resume_key, octaseg_version=__version__)
        return state

    def save(self, path: Path, finished: bool = False) -> None:
        save_checkpoint(path, self.checkpoint(finished))

    def restore(self, ckpt: Mapping[str, Any]) -> None:
        """Take back what :meth:`checkpoint` saved. Saved at an epoch's end (validated, in
        the history): go on with the next epoch; saved by a signal, even after an epoch's
        last step but before its validation: finish that epoch."""
        for name in STATE_DICTS:
            getattr(self, name).load_state_dict(ckpt[name])
        for name in PROGRESS:
            setattr(self, name, _copied(ckpt[name]))
        if self.history and int(self.history[-1]["epoch"]) == self.epoch:
            self.next_epoch()

    def next_epoch(self) -> None:
        self.epoch, self.step, self.epoch_losses = self.epoch + 1, 0, []


@dataclass(frozen=True)
class Run:
    """What stays fixed through a run: its settings (with ``amp`` resolved to a bool, so
    that validation predicts in the training's precision), device, memory format, loss,
    the folder it writes and its log."""

    settings: Mapping[str, Any]
    device: torch.device
    channels_last: bool
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    out_dir: Path
    log: Callable[[str], None]

    @property
    def amp_dtype(self) -> torch.dtype:
        return torch.float16 if self.device.type == "cuda" else torch.bfloat16


def fit(
    sampler: Sampler,
    val_images: Sequence[np.ndarray],
    val_masks: Sequence[np.ndarray],
    settings: Mapping[str, Any],
    out_dir: str | Path,
    log: Callable[[str], None] = print,
    resume_key: Any = None,
) -> list[dict[str, float]]:
    """Train on batches from ``sampler``, validate on whole normalized images (H, W) or
    (C, H, W) (volumes (C * D, H, W) for IPN) against bool masks (H, W); write best.pt,
    last.pt and history.csv to ``out_dir``; resume from ``out_dir/last.pt`` if it holds
    an unfinished run with the same settings and ``resume_key`` (any plain value naming
    the training data, e.g. its file list; a run on other data starts afresh). Returns
    the per-epoch history.

    ``settings``: model (name and parameters), loss, optimizer, lr, weight_decay,
    lr_schedule, lr_step_epochs, lr_gamma, epochs, steps_per_epoch, batch_size,
    patch_size, patience, seed, amp, device, threshold, and prediction's for validation
    (predict_mode, window, stride, predict_batch_size, blend).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state, run = start(sampler, settings, out_dir, resume_key, log)
    log(
        f"training {state.model_spec} on {run.device} (amp={state.amp}), "
        f"{len(sampler.masks)} train / {len(val_images)} val subjects"
    )
    with _StopFlag() as stop:
        while state.epoch <= settings["epochs"] and state.since_best < settings["patience"]:
            timing = train_epoch(state, run, sampler, stop)
            end_epoch(state, run, timing, val_images, val_masks)
    store_threshold(out_dir / BEST, val_images, val_masks, run.settings, run.device, log)
    return state.history


def start(
    sampler: Sampler, settings: Mapping[str, Any], out_dir: Path, resume_key: Any, log: Callable[[str], None]
) -> tuple[TrainState, Run]:
    """A run's state and fixed parts: the model initialized from the seed, or from the
    weights ``init_from`` names (:mod:`octaseg.finetune`), in the precision ``amp`` asks
    for (``auto``: as :func:`~octaseg.precision.resolve_amp` finds), or resumed from
    ``out_dir/last.pt`` when that holds an unfinished run with these settings and
    ``resume_key`` (and init_from's weights), in the precision it started with; the
    encoder frozen as ``freeze_encoder_epochs`` says for its epoch."""
    device = pick_device(settings.get("device", "auto"))
    model_spec = dict(settings["model"])
    model_spec.setdefault("in_channels", sampler.channels)
    torch.manual_seed(settings["seed"])
    spec = dict(model_spec)
    model = build_model(spec.pop("name"), **spec).to(device)
    plain_settings, plain_key = plain(settings), plain(init_resume_key(resume_key, settings))
    saved = _resumable_state(out_dir / LAST, device, plain_settings, plain_key, log)
    amp = (
        bool(saved.get("amp", settings["amp"]))
        if saved
        else resolve_amp(settings["amp"], device, model, sampler, settings, log)
    )
    channels_last = amp and device.type == "cpu" and not getattr(model, "volumetric", False)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    run = Run({**settings, "amp": amp}, device, channels_last, build_loss(settings["loss"]), out_dir, log)
    optimizer = make_optimizer(model, settings)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(e, settings))
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    state = TrainState(model, optimizer, scheduler, scaler, amp, model_spec, plain_settings, plain_key)
    if saved:
        state.restore(saved)
        log(f"resuming from {out_dir / LAST}: epoch {state.epoch}, step {state.step}")
    else:
        initialize(state.model, model_spec, settings, log)
    freeze_encoder(state.model, state.epoch, settings, log)
    return state, run


def train_epoch(state: TrainState, run: Run, sampler: Sampler, stop: _StopFlag) -> dict[str, float]:
    """The steps of epoch ``state.epoch`` from step ``state.step`` on. The epoch's random
    stream depends on (seed, epoch) alone, and a resumed epoch replays the batches it
    already used: resumable exactly. On SIGTERM/SIGINT saves last.pt after the step in
    flight and raises :class:`Interrupted`. Returns the epoch's speed for its history
    row (seconds, samples_per_s)."""
    settings, first = run.settings, state.step
    steps, batch_size = settings["steps_per_epoch"], settings["batch_size"]
    sampler.reseed(settings["seed"] * 100_003 + state.epoch)
    torch.manual_seed(settings["seed"] * 100_003 + state.epoch)
    for _ in range(first):
        sampler.batch(batch_size)
    started = time.perf_counter()
    state.model.train()
    freeze_encoder(state.model, state.epoch, settings, run.log)
    bar = progress_bar(f"epoch {state.epoch}", steps, first)
    while state.step < steps:
        loss = train_step(state, run, *sampler.batch(batch_size))
        state.step += 1
        state.epoch_losses.append(loss)
        if bar is not None:
            bar.set_postfix(loss=f"{loss:.4f}")
            bar.update()
        if stop.signal is not None:
            last, name = run.out_dir / LAST, signal.Signals(stop.signal).name
            state.save(last)
            run.log(f"{name} at epoch {state.epoch} step {state.step}: state saved to {last}")
            raise Interrupted(f"training stopped by {name}; run again to resume from {last}")
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "samples_per_s": (steps - first) * batch_size / seconds}


def train_step(state: TrainState, run: Run, x: np.ndarray, y: np.ndarray) -> float:
    """One optimizer step on a batch of images float32 (B, C, P, P) (IPN: blocks
    (B, C, D, P, P)) and masks int64 (B, P, P); returns its loss. A loss that is not
    finite raises FloatingPointError rather than go on to save a broken model."""
    images, masks = torch.from_numpy(x).to(run.device), torch.from_numpy(y).to(run.device)
    if run.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast(run.device.type, dtype=run.amp_dtype, enabled=state.amp):
        loss = run.loss_fn(state.model(images), masks)
    if not torch.isfinite(loss):
        raise FloatingPointError(
            f"epoch {state.epoch} step {state.step + 1}: loss is {loss.item()}; stopping rather than "
            "saving a broken model (lower lr, or check the input images)"
        )
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    state.scaler.step(state.optimizer)
    state.scaler.update()
    return loss.item()


def end_epoch(
    state: TrainState,
    run: Run,
    timing: Mapping[str, float],
    val_images: Sequence[np.ndarray],
    val_masks: Sequence[np.ndarray],
) -> None:
    """The end of epoch ``state.epoch``: step the learning-rate schedule, validate, add
    the epoch's history row, save best.pt (when validation improved), last.pt (finished
    at the last epoch or an early stop) and history.csv, log, and go on to the next
    epoch."""
    settings, log = run.settings, run.log
    lr = state.optimizer.param_groups[0]["lr"]
    state.scheduler.step()
    val = validation_dice(state.model, val_images, val_masks, settings, run.device)
    improved = val > state.best_score
    state.best_score, state.since_best = (val, 0) if improved else (state.best_score, state.since_best + 1)
    loss = float(np.mean(state.epoch_losses))
    state.history.append({"epoch": state.epoch, "loss": loss, "val_dice": val, "lr": lr, **timing})
    state.epoch_losses = []
    stopped = state.since_best >= settings["patience"]
    if improved:
        state.save(run.out_dir / BEST)
    state.save(run.out_dir / LAST, finished=state.epoch == settings["epochs"] or stopped)
    write_csv(run.out_dir / HISTORY, state.history, HISTORY_FIELDS)
    log(
        f"epoch {state.epoch:3d}  loss {loss:.4f}  val_dice {val:.4f}  lr {lr:.2e}  {timing['seconds']:.1f}s "
        f"({timing['samples_per_s']:.0f} samples/s){'  *best' if improved else ''}"
    )
    if stopped:
        log(
            f"early stop: no val_dice improvement for {state.since_best} epochs (best {state.best_score:.4f})"
        )
    state.next_epoch()


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


def _copied(value: Any) -> Any:
    """Lists copied (a checkpoint does not share the running state's), other values as is."""
    return list(value) if isinstance(value, list) else value
