"""Benchmark: does ``amp: auto`` choose the same precision on an idle and a busy CPU?

    python bench/bench_amp_probe.py [--repeats 4] [--base 16] [--patch 256] [--batch 8]

``amp: auto`` times a float32 and a bf16 training step on the real model and batch before
training (octaseg.precision.probe_amp) and keeps the faster. A learning-curve grid once
picked bf16 for its idle trainings and float32 for those started beside other work, so
the grid's weights depended on the machine's load. Side by side in one run, on the
recipe's U-Net (base 16, depth 4) and a batch of 8 x 256 px:

1. ``sequential``: the old probe, float32's steps then bf16's, median of each;
2. ``interleaved``: octaseg's probe, the two in turns, fastest step of each.

Each runs ``--repeats`` times on an idle CPU and again beside a busy process in its own
session (as a second shell is: with autogroup scheduling, ``nice`` does not hold it
back). Prints the bf16/float32 time ratio of each run and the choices; the target is
that a probe chooses alike idle and busy.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import time

import numpy as np
import torch

from octaseg.data import PatchSampler
from octaseg.losses import build_loss
from octaseg.models import build_model
from octaseg.precision import probe_amp

BUSY = "import torch\ntorch.set_num_threads(1)\na = torch.rand(512, 512)\nwhile True:\n    a @ a\n"


def sequential_probe(model: torch.nn.Module, batch, loss_fn, steps: int = 3) -> dict[bool, float]:
    """The probe as octaseg had it before: each precision's steps in one run, median."""
    x, y = torch.from_numpy(batch[0]), torch.from_numpy(batch[1])
    seconds = {}
    for amp in (False, True):
        probe, xs = copy.deepcopy(model), x
        if amp:
            probe = probe.to(memory_format=torch.channels_last)
            xs = x.contiguous(memory_format=torch.channels_last)
        times = []
        for _ in range(steps + 1):
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(probe(xs), y)
            loss.backward()
            times.append(time.perf_counter() - start)
        seconds[amp] = float(np.median(times[1:]))
    return seconds


def run(probes: dict, args, model, batch, loss_fn) -> dict[str, list[float]]:
    ratios: dict[str, list[float]] = {name: [] for name in probes}
    for _ in range(args.repeats):
        for name, probe in probes.items():
            seconds = probe(model, batch, loss_fn)
            ratios[name].append(seconds[True] / seconds[False])
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--base", type=int, default=16)
    parser.add_argument("--patch", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(400, 400)).astype(np.float32) for _ in range(4)]
    masks = [rng.random((400, 400)) < 0.09 for _ in range(4)]
    batch = PatchSampler(images, masks, args.patch, seed=0).batch(args.batch)
    model = build_model("unet", base=args.base, depth=4, up_kernel=4)
    loss_fn = build_loss({"ce": 1.0, "dice": 1.0})
    probes = {"sequential": sequential_probe, "interleaved": probe_amp}

    results = {"idle": run(probes, args, model, batch, loss_fn)}
    busy = subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True)
    try:
        time.sleep(2)
        results["busy"] = run(probes, args, model, batch, loss_fn)
    finally:
        busy.kill()
        busy.wait()

    print(
        f"bf16 / float32 step time (below 1: bf16 chosen), {args.repeats} probes each, "
        f"U-Net base {args.base}, batch {args.batch} x {args.patch} px, {args.threads} threads"
    )
    print(f"{'probe':<12} {'idle':<32} {'busy':<32} same choice")
    for name in probes:
        cells, choices = [], []
        for load in ("idle", "busy"):
            r = results[load][name]
            cells.append(" ".join(f"{v:.2f}" for v in r))
            choices.append({v < 1 for v in r})
        same = "yes" if choices[0] == choices[1] and len(choices[0]) == 1 else "NO"
        print(f"{name:<12} {cells[0]:<32} {cells[1]:<32} {same}")


if __name__ == "__main__":
    main()
