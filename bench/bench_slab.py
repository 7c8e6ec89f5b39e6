"""Benchmark: slab projections of a full-size 6mm volume on one core.

    python bench/bench_slab.py [--repeat 5]

Generates one synthetic 6mm subject (400 B-scans of 640 x 400, OCTA and OCT, with its
layer surfaces), pins this process to one CPU, and times, best of ``--repeat``, side by
side in this run:

* ``slab_projection`` (octaseg.projection) for the ILM_OPL and OPL_BM slabs, mean and
  maximum, of the OCTA and the OCT volume: the work of the workflow's project rule;
* for comparison, the plain full-depth mean and maximum projections of the same volume
  (``volume.mean(axis=1)``, ``volume.max(axis=1)``), and a slab by cumulative sums along
  depth (the usual vectorized alternative);
* for information, estimating the surfaces from the OCT volume (the surfaces rule
  without GT_Layers).

Prints each time, the slowest slab against the target (at most 0.3 s) and the slab
projections' ratio to the full-depth mean projection.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

try:
    from octaseg.layers import SLABS, estimate_surfaces
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from octaseg.layers import SLABS, estimate_surfaces
from octaseg.projection import slab_projection
from octaseg.synth import generate_subject

TARGET_S = 0.3


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def cumsum_slab(volume: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The mean over [top, bottom) by a cumulative sum along depth and two lookups."""
    start = np.clip(np.rint(top), 0, volume.shape[1]).astype(np.int64)
    stop = np.maximum(np.clip(np.rint(bottom), 0, volume.shape[1]).astype(np.int64), start)
    csum = np.zeros((volume.shape[0], volume.shape[1] + 1, volume.shape[2]), np.int32)
    np.cumsum(volume, axis=1, dtype=np.int32, out=csum[:, 1:])
    take = lambda rows: np.take_along_axis(csum, rows[:, None], axis=1)[:, 0]  # noqa: E731
    return (take(stop) - take(start)) / np.maximum(stop - start, 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"

    start = time.perf_counter()
    subject = generate_subject(10001, seed=0, scans=400, depth=640, width=400)
    print(f"subject: OCTA and OCT of {subject.octa.shape}, generated in {time.perf_counter() - start:.1f} s")
    print(f"pinned to {cpus} CPU(s)")

    full = best_of(args.repeat, lambda: subject.octa.mean(axis=1, dtype=np.float32))
    print(f"full-depth mean projection (OCTA)     {full:6.3f} s")
    full_max = best_of(args.repeat, lambda: subject.octa.max(axis=1))
    print(f"full-depth max projection (OCTA)      {full_max:6.3f} s")
    slabs = {}
    for modality, volume in (("OCTA", subject.octa), ("OCT", subject.oct)):
        for slab, (top, bottom) in ((s, b) for s, b in SLABS.items() if b):
            for reduce in ("mean", "max"):
                t, b = subject.layers[top], subject.layers[bottom]
                run = lambda v=volume, t=t, b=b, r=reduce: slab_projection(v, t, b, r)  # noqa: E731
                seconds = best_of(args.repeat, run)
                slabs[f"{modality}({slab}) {reduce}"] = seconds
                print(f"slab_projection {modality + '(' + slab + ')':15s} {reduce:4s}  {seconds:6.3f} s")
    t, b = subject.layers["ILM"], subject.layers["OPL"]
    assert np.allclose(cumsum_slab(subject.octa, t, b), slab_projection(subject.octa, t, b), atol=1e-4)
    cumsum = best_of(args.repeat, lambda: cumsum_slab(subject.octa, t, b))
    print(f"cumulative-sum slab (OCTA ILM_OPL)    {cumsum:6.3f} s (same values)")
    start = time.perf_counter()
    estimate_surfaces(subject.oct)
    print(f"estimate_surfaces (OCT, for information) {time.perf_counter() - start:6.3f} s")

    slowest = max(slabs, key=slabs.get)
    verdict = "OK" if slabs[slowest] <= TARGET_S else "TOO SLOW"
    print(
        f"slowest slab projection {slowest}: {slabs[slowest]:.3f} s (target <= {TARGET_S} s on one core): "
        f"{verdict}; {slabs[slowest] / full:.2f}x the full-depth mean projection, "
        f"{cumsum / slabs['OCTA(ILM_OPL) mean']:.1f}x faster than cumulative sums; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
