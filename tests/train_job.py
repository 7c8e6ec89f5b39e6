"""A small real training run, for the resume and signal tests: python train_job.py OUT_DIR.

Deterministic data and settings, one torch thread, so that two runs can be compared bit
for bit. Prints RESUMED when it picked up an earlier run's last.pt.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from octaseg.data import PatchSampler
from octaseg.train import Interrupted, fit

SETTINGS = {
    "model": {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4},
    "loss": "ce",
    "optimizer": "adam",
    "lr": 0.01,
    "lr_schedule": "step",
    "lr_step_epochs": 2,
    "lr_gamma": 0.5,
    "epochs": 4,
    "steps_per_epoch": 12,
    "batch_size": 8,
    "patch_size": 32,
    "patience": 10,
    "seed": 7,
    "amp": False,
    "device": "cpu",
    "window": 32,
    "stride": 16,
    "predict_batch_size": 16,
}


def data(seed: int, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        mask = np.zeros((64, 64), bool)
        for col in rng.integers(0, 60, 4):
            mask[:, col : col + 3] = True
        images.append((mask + rng.normal(0, 0.3, mask.shape)).astype(np.float32))
        masks.append(mask)
    return images, masks


if __name__ == "__main__":
    torch.set_num_threads(1)
    slow = len(sys.argv) > 2 and sys.argv[2] == "slow"
    train, val = data(1, 3), data(2, 2)

    def log(message: str) -> None:
        print(("RESUMED " if message.startswith("resuming") else "") + message, flush=True)
        if slow and message.startswith("epoch"):
            import time

            time.sleep(0.5)  # leave time for a signal between epochs

    try:
        sampler = PatchSampler(*train, SETTINGS["patch_size"], seed=SETTINGS["seed"])
        fit(sampler, *val, SETTINGS, sys.argv[1], log=log)
    except Interrupted as err:
        print(err, flush=True)
        sys.exit(143)
