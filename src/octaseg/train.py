"""Training of a 2D segmentation model on random patches, validated on whole images.

``fit`` is the loop, readable top to bottom: per epoch ``steps_per_epoch`` batches of
augmented patches, then a sliding-window Dice on the validation images; the best epoch by
validation Dice is kept in ``best.pt``, the latest in ``last.pt``; the learning rate is
multiplied by ``lr_gamma`` every ``lr_step_epochs`` epochs (the original: 0.9 every 20);
training stops early after ``patience`` epochs without improvement.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from octaseg import __version__, metrics
from octaseg.data import PatchSampler
from octaseg.infer import predict_with_settings
from octaseg.io import atomic_path, write_csv
from octaseg.losses import build_loss
from octaseg.models import build_model

HISTORY_FIELDS = ["epoch", "loss", "val_dice", "lr", "seconds"]


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def save_checkpoint(path: Path, state: Mapping[str, Any]) -> None:
    """Save a plain dict of tensors and plain values, atomically."""
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; refuses arbitrary pickles."""
    return torch.load(path, map_location=map_location, weights_only=True)


def model_from_checkpoint(ckpt: Mapping[str, Any]) -> torch.nn.Module:
    """Rebuild the model a checkpoint was trained with and load its weights."""
    spec = dict(ckpt["model_spec"])
    model = build_model(spec.pop("name"), **spec)
    model.load_state_dict(ckpt["model"])
    return model


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


def fit(
    train_images: Sequence[np.ndarray],
    train_masks: Sequence[np.ndarray],
    val_images: Sequence[np.ndarray],
    val_masks: Sequence[np.ndarray],
    settings: Mapping[str, Any],
    out_dir: str | Path,
    log: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Train on normalized images (H, W) and bool masks (H, W); write best.pt, last.pt, history.csv.

    ``settings`` holds: model (dict with name and its parameters), loss, lr, lr_step_epochs,
    lr_gamma, epochs, steps_per_epoch, batch_size, patch_size, patience, seed, amp, device,
    window, stride, predict_batch_size. Returns the per-epoch history.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings["seed"])
    device = pick_device(settings.get("device", "auto"))
    amp = bool(settings["amp"])
    model_spec = dict(settings["model"])
    model_spec.setdefault("in_channels", 1 if train_images[0].ndim == 2 else train_images[0].shape[-1])
    spec = dict(model_spec)
    model = build_model(spec.pop("name"), **spec).to(device)
    if amp and device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)
    loss_fn = build_loss(settings["loss"])
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, settings["lr_step_epochs"], settings["lr_gamma"])
    sampler = PatchSampler(train_images, train_masks, settings["patch_size"], seed=settings["seed"])
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16

    history: list[dict[str, float]] = []
    best, since_best = -math.inf, 0
    log(
        f"training {model_spec} on {device} (amp={amp}), "
        f"{len(train_images)} train / {len(val_images)} val images"
    )
    for epoch in range(1, settings["epochs"] + 1):
        start = time.perf_counter()
        model.train()
        losses = []
        for _ in range(settings["steps_per_epoch"]):
            x, y = sampler.batch(settings["batch_size"])
            x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
            if amp and device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp):
                loss = loss_fn(model(x), y)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"epoch {epoch}: loss is {loss.item()}; stopping instead of saving a broken model"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            losses.append(loss.item())
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        val = validation_dice(model, val_images, val_masks, settings, device)
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "val_dice": val,
            "lr": lr,
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        improved = val > best
        if improved:
            best, since_best = val, 0
        else:
            since_best += 1
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "best_score": best,
            "val_dice": val,
            "model_spec": model_spec,
            "settings": _plain(settings),
            "octaseg_version": __version__,
        }
        if improved:
            save_checkpoint(out_dir / "best.pt", state)
        save_checkpoint(out_dir / "last.pt", state)
        write_csv(out_dir / "history.csv", history, HISTORY_FIELDS)
        log(
            f"epoch {epoch:3d}  loss {row['loss']:.4f}  val_dice {val:.4f}  lr {lr:.2e}  "
            f"{row['seconds']:.1f}s{'  *best' if improved else ''}"
        )
        if since_best >= settings["patience"]:
            log(f"early stop: no val_dice improvement for {since_best} epochs (best {best:.4f})")
            break
    return history


def _plain(value: Any) -> Any:
    """Settings as plain nested dicts/lists/scalars, loadable with weights_only=True."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
