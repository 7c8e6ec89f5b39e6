"""Benchmark: is patch sampling the bottleneck of training?

    python bench/bench_train.py [--steps 15] [--base 64] [--threads 2]

Side by side in one run, with the same model (the original base-64 U-Net by default),
batch (32 patches of 64x64) and precision (bf16 autocast + channels_last on CPU):

1. bare: forward + backward + optimizer step on one pre-made batch, repeated (also in
   float32, to show which precision is faster on this CPU: what ``amp: auto`` probes);
2. loop: octaseg.train.fit, which draws every batch from the albumentations patch sampler
   (timed over its training steps; its validation is excluded from the figure).

Prints samples/s of both and their ratio; the target is a ratio of at least 0.90.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import torch

from octaseg.data import PatchSampler
from octaseg.losses import build_loss
from octaseg.models import build_model
from octaseg.train import fit

TARGET = 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--base", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(400, 400)).astype(np.float32) for _ in range(12)]
    masks = [rng.random((400, 400)) < 0.09 for _ in range(12)]
    settings = {
        "model": {"name": "unet", "base": args.base, "depth": 4, "up_kernel": 4},
        "loss": "ce", "optimizer": "adam", "weight_decay": 0.0, "lr": 1e-3, "lr_schedule": "step",
        "lr_step_epochs": 20, "lr_gamma": 0.9, "epochs": 1, "steps_per_epoch": args.steps,
        "batch_size": args.batch, "patch_size": 64, "patience": 5, "seed": 0, "amp": True,
        "device": "cpu", "window": 64, "stride": 64, "predict_batch_size": 64,
    }  # fmt: skip

    # 1. bare forward + backward + step on one batch, in float32 and in bf16
    loss_fn = build_loss("ce")
    y = torch.from_numpy((rng.random((args.batch, 64, 64)) < 0.09).astype(np.int64))
    bare = {amp: bare_speed(args, loss_fn, y, amp) for amp in (False, True)}

    # 2. the real loop, after one warm-up step as the bare loop had
    with tempfile.TemporaryDirectory() as out:
        warm = {**settings, "steps_per_epoch": 1}
        fit(PatchSampler(images, masks, 64), images[:1], masks[:1], warm, out, log=lambda _: None)
    with tempfile.TemporaryDirectory() as out:
        history = fit(
            PatchSampler(images, masks, 64), images[:1], masks[:1], settings, out, log=lambda _: None
        )
    loop = history[0]["samples_per_s"]

    print(
        f"U-Net base {args.base}, batch {args.batch} of 64x64, bf16 + channels_last, {args.threads} threads"
    )
    print(f"bare step, float32         : {bare[False]:8.1f} samples/s")
    print(f"bare forward+backward+step : {bare[True]:8.1f} samples/s")
    print(f"training loop with sampling: {loop:8.1f} samples/s")
    print(f"ratio loop / bare          : {loop / bare[True]:8.3f}  (target >= {TARGET:.2f})")
    faster = "bf16" if bare[True] > bare[False] else "float32"
    print(f"bf16 / float32 (bare)      : {bare[True] / bare[False]:8.3f}  (amp: auto would take {faster})")


def bare_speed(args: argparse.Namespace, loss_fn, y: torch.Tensor, amp: bool) -> float:
    """Samples/s of forward + backward + optimizer step repeated on one batch."""
    torch.manual_seed(0)
    model = build_model("unet", base=args.base, up_kernel=4)
    x = torch.randn(args.batch, 1, 64, 64)
    if amp:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    model.train()
    step()  # warm-up
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    return args.steps * args.batch / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
