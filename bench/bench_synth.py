"""Benchmark: seconds to generate one full-size synthetic 6mm subject on one core.

    python bench/bench_synth.py [--subjects 5] [--write]

Pins numpy/BLAS and OpenCV to one thread (a workflow job runs with threads: 1), generates
``--subjects`` subjects of the OCTA-500 6mm geometry (400 x 640 x 400) and prints the
median seconds per subject and its ratio to the 3 s budget. ``--write`` also times
write_subject into a temporary folder.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402

cv2.setNumThreads(1)

try:
    from octaseg.synth import FOV_GEOMETRY, generate_subject, write_subject
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from octaseg.synth import FOV_GEOMETRY, generate_subject, write_subject

BUDGET_S = 3.0  # seconds per full-size 6mm subject


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=5, help="subjects to time (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also time write_subject")
    args = parser.parse_args()

    scans, depth, width = FOV_GEOMETRY["6mm"]
    generate_subject(1, seed=args.seed, scans=64, depth=96, width=64)  # warm caches / imports
    gen, wrote = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for sid in range(10001, 10001 + args.subjects):
            t0 = time.perf_counter()
            subject = generate_subject(sid, seed=args.seed, scans=scans, depth=depth, width=width)
            gen.append(time.perf_counter() - t0)
            if args.write:
                t0 = time.perf_counter()
                write_subject(tmp, subject)
                wrote.append(time.perf_counter() - t0)
            print(f"subject {sid}: {gen[-1]:.3f} s", flush=True)

    per_subject = statistics.median(gen)
    print(
        f"generate_subject 6mm ({scans}x{depth}x{width}), 1 thread: "
        f"{per_subject:.3f} s per subject (median of {len(gen)}, min {min(gen):.3f}, "
        f"max {max(gen):.3f}); {per_subject / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget"
    )
    if wrote:
        print(f"write_subject: {statistics.median(wrote):.3f} s per subject (median)")


if __name__ == "__main__":
    main()
