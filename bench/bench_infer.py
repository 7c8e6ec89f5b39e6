"""Benchmark: the default prediction mode against the original sliding-window method.

    python bench/bench_infer.py [--repeats 3] [--threads 2] [--results results]

Side by side in one run:

1. Speed, with the original base-64 U-Net (39.4M parameters) on one 400x400 projection:
   the original method (64x64 windows at stride 16, 484 windows predicted 32 at a time in
   float32 and averaged) against octaseg's default (whole image in one pass, bf16 autocast
   on CPU as the config's ``amp: true``), plus float32 whole-image and Gaussian-blended
   windows at stride 32 for reference. Weights do not change speed, so the network is
   freshly initialized. Target: at least 10x.
2. Agreement, with the demo's trained en-face models (results/<exp>/best.pt of
   ``snakemake --cores all``) on the demo's test subjects: mean Dice of both methods
   against the labels. Target: within 0.005.

Prints seconds, the speed ratio and both Dice per experiment; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from octaseg import metrics
from octaseg.checkpoints import load_checkpoint, model_from_checkpoint
from octaseg.config import dataset_root, experiment_settings, splits
from octaseg.infer import predict_probability
from octaseg.io import read_label
from octaseg.layout import label_path
from octaseg.model_input import load_model_input
from octaseg.models import build_model

REPO = Path(__file__).resolve().parents[1]
SPEEDUP, DICE_TOLERANCE = 10.0, 0.005
ORIGINAL = {"mode": "window", "window": 64, "stride": 16, "batch_size": 32, "blend": "constant", "amp": False}
DEFAULT = {"mode": "whole", "amp": True}


def timed(runs: dict[str, object], repeats: int) -> dict[str, float]:
    """Best time of each callable over ``repeats`` rounds, the callables taking turns
    within each round, so that load from elsewhere falls on all of them alike."""
    for fn in runs.values():
        fn()  # warm-up: first-call allocations and kernel selection
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def speed(repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = build_model("unet", preset="seed").eval()
    image = np.random.default_rng(0).standard_normal((400, 400)).astype(np.float32)
    runs = {
        "original: 64px windows, stride 16, fp32, averaged": ORIGINAL,
        "octaseg default: whole image, bf16": DEFAULT,
        "whole image, fp32": {"mode": "whole", "amp": False},
        "64px windows, stride 32, Gaussian, bf16": {
            "mode": "window",
            "window": 64,
            "stride": 32,
            "amp": True,
        },
    }
    seconds = timed(
        {name: (lambda kw=kw: predict_probability(model, image, **kw)) for name, kw in runs.items()}, repeats
    )
    print(
        f"Speed: 400x400 projection, U-Net base 64, {torch.get_num_threads()} threads, best of {repeats} "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    for name, s in seconds.items():
        print(f"  {name:<52} {s:7.2f} s")
    original, default = seconds[next(iter(runs))], seconds["octaseg default: whole image, bf16"]
    return original, default


def agreement(results: Path) -> list[tuple[str, float, float]]:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    root, test_ids = dataset_root(config), splits(config)["test"]
    rows = []
    for exp in sorted(config["experiments"]):
        settings = experiment_settings(config, exp)
        ckpt_path = results / exp / "best.pt"
        if settings["input"] == "volume" or not ckpt_path.is_file():
            continue
        model = model_from_checkpoint(load_checkpoint(ckpt_path)).eval()
        folder = {"projection": "projections/{}.tif", "equalized": "equalized/{}.png"}[settings["input"]]
        dice = {"original": [], "default": []}
        for i in test_ids:
            image = load_model_input([results / folder.format(i)], settings)
            label = read_label(label_path(root, i), image.shape[1:])
            for name, kw in (("original", ORIGINAL), ("default", {**DEFAULT, "amp": settings["amp"]})):
                prob = predict_probability(model, image, **kw)
                dice[name].append(metrics.dice(metrics.confusion(prob >= 0.5, label)))
        rows.append((exp, float(np.mean(dice["original"])), float(np.mean(dice["default"]))))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=Path("results"), help="the demo's results folder")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    original, default = speed(args.repeats)
    ratio = original / default
    ok = ratio >= SPEEDUP
    print(f"  speed-up of the default over the original: {ratio:.1f}x (target >= {SPEEDUP:.0f}x)")

    rows = agreement(args.results)
    if not rows:
        print(f"Agreement: no trained en-face model under {args.results}/<experiment>/best.pt; "
              "run the demo first (snakemake --cores all)")  # fmt: skip
        return 1
    print("Agreement: mean test Dice of the demo's trained models, original vs default")
    for exp, dice_original, dice_default in rows:
        delta = dice_default - dice_original
        ok &= abs(delta) <= DICE_TOLERANCE
        print(
            f"  {exp:<14} original {dice_original:.4f}  default {dice_default:.4f}  difference {delta:+.4f}"
        )
    print(f"  target: |difference| <= {DICE_TOLERANCE}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
