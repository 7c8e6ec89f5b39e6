"""Mixed precision chosen by measurement: on CPUs of one class bf16 autocast is faster
than float32 on some and slower on others, and which one wins depends on the batch's
shape, so ``amp: auto`` times both on the real model and batch before training."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from octaseg.data import BlockSampler, PatchSampler
from octaseg.losses import build_loss


def probe_amp(
    model: torch.nn.Module, batch: tuple[np.ndarray, np.ndarray], loss_fn: Any, steps: int = 3
) -> dict[bool, float]:
    """Seconds per training step (forward and backward) of copies of ``model`` on CPU in
    float32 (False) and with bf16 autocast and channels_last (True), on one batch: what
    ``amp: auto`` chooses by. The model itself is left untouched.

    The two run in turns, step for step, and each keeps its fastest step, so that load
    which comes and goes slows both alike. A steady load still narrows bf16's lead (a
    ratio of 0.70-0.84 idle, 0.96-0.99 beside a busy process: bench/bench_amp_probe.py),
    so the choice can differ between an idle and a shared machine."""
    x, y = torch.from_numpy(batch[0]), torch.from_numpy(batch[1])
    runs = {}
    for amp in (False, True):
        probe = copy.deepcopy(model)
        xs = x
        if amp and not getattr(model, "volumetric", False):
            probe, xs = (
                probe.to(memory_format=torch.channels_last),
                x.contiguous(memory_format=torch.channels_last),
            )
        runs[amp] = (probe, xs)
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(steps + 1):  # the first round is a warm-up
        for amp, (probe, xs) in runs.items():
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(probe(xs), y)
            loss.backward()
            times[amp].append(time.perf_counter() - start)
    seconds = {amp: float(min(t[1:])) for amp, t in times.items()}
    return seconds


def resolve_amp(
    setting: bool | str,
    device: torch.device,
    model: torch.nn.Module,
    sampler: PatchSampler | BlockSampler,
    settings: Mapping[str, Any],
    log: Callable[[str], None],
) -> bool:
    """Mixed precision on or off: ``true``/``false`` as set; ``auto`` is on with CUDA
    (float16 AMP) and on CPU whichever of float32 and bf16 runs a training step faster
    here (:func:`probe_amp`), since that differs between CPUs of one class."""
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return True
    loss_fn = build_loss(settings["loss"])
    seconds = probe_amp(model, sampler.batch(settings["batch_size"]), loss_fn)
    choice = seconds[True] < seconds[False]
    log(
        f"amp auto: a step takes {seconds[False]:.3f} s in float32, {seconds[True]:.3f} s in bf16 "
        f"on this CPU: {'bf16' if choice else 'float32'}"
    )
    return choice
