"""Benchmark: seconds to generate one full-size synthetic 6mm subject on one core.

    python bench/bench_synth.py [--subjects 5] [--write]
    python bench/bench_synth.py --stats 10 [--fov 3mm]

Pins numpy/BLAS and OpenCV to one thread (a workflow job runs with threads: 1), generates
``--subjects`` subjects of the OCTA-500 6mm geometry (400 x 640 x 400) and prints the
median seconds per subject, OCTA and OCT volumes included, its ratio to the 3 s budget,
the time of each stage (vessel tree, en-face maps, OCTA volume, OCT volume) and the peak
memory. ``--write`` also times write_subject into a temporary folder.

``--stats N`` instead prints the realism statistics (:func:`octaseg.realism.subject_stats`
in the label frame, plus the OCT volume's mean) of N subjects of ``--fov`` (ids 10001..
for 6mm, 10301.. for 3mm), their mean / min / max, and the statistics out of
:data:`octaseg.realism.TARGETS`.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

cv2.setNumThreads(1)

try:
    from octaseg import realism, synth
    from octaseg.projection import orient
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from octaseg import realism, synth
    from octaseg.projection import orient

BUDGET_S = 3.0  # seconds per full-size 6mm subject
FIRST_ID = {"6mm": 10001, "3mm": 10301}
ORIENTATION = {"6mm": "flipud", "3mm": "fliplr"}  # OCTA-500's label frames


def _stages(sid: int, seed: int, scans: int, depth: int, width: int) -> dict[str, float]:
    """Seconds of each stage of generate_subject, run step by step as it runs them."""
    p = synth.DEFAULT_PARAMS
    t = [time.perf_counter()]
    rng = np.random.default_rng([seed, sid])
    anat = synth.sample_anatomy(rng, scans, width, synth.default_field_mm(scans, width), p)
    tree = synth.grow_vessel_tree(rng, anat, p)
    t.append(time.perf_counter())
    ef = synth.render_enface(rng, anat, tree, p)
    surf = synth.retina_surfaces(rng, anat, depth, p).warp(ef.motion)
    t.append(time.perf_counter())
    synth.render_volume(rng, ef, surf, depth, p)
    t.append(time.perf_counter())
    synth.render_oct(rng, ef, surf, depth, p)
    t.append(time.perf_counter())
    names = ("tree", "en-face", "OCTA volume", "OCT volume")
    return {name: b - a for name, a, b in zip(names, t[:-1], t[1:], strict=True)}


def bench(args: argparse.Namespace) -> None:
    scans, depth, width = synth.FOV_GEOMETRY["6mm"]
    synth.generate_subject(1, seed=args.seed, scans=64, depth=96, width=64)  # warm caches / imports
    gen, wrote = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for sid in range(10001, 10001 + args.subjects):
            t0 = time.perf_counter()
            subject = synth.generate_subject(sid, seed=args.seed, scans=scans, depth=depth, width=width)
            gen.append(time.perf_counter() - t0)
            if args.write:
                t0 = time.perf_counter()
                synth.write_subject(tmp, subject)
                wrote.append(time.perf_counter() - t0)
            print(f"subject {sid}: {gen[-1]:.3f} s", flush=True)
            del subject

    per_subject = statistics.median(gen)
    print(
        f"generate_subject 6mm ({scans}x{depth}x{width}, OCTA + OCT), 1 thread: "
        f"{per_subject:.3f} s per subject (median of {len(gen)}, min {min(gen):.3f}, "
        f"max {max(gen):.3f}); {per_subject / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget"
    )
    stages = _stages(10001, args.seed, scans, depth, width)
    print("stages of subject 10001: " + ", ".join(f"{k} {v:.3f} s" for k, v in stages.items()))
    if wrote:
        print(f"write_subject: {statistics.median(wrote):.3f} s per subject (median)")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak_mb:.0f} MB")


def stats(args: argparse.Namespace) -> None:
    scans, depth, width = synth.FOV_GEOMETRY[args.fov]
    rows = []
    for sid in range(FIRST_ID[args.fov], FIRST_ID[args.fov] + args.stats):
        s = synth.generate_subject(sid, seed=args.seed, scans=scans, depth=depth, width=width)
        label = orient(s.label, ORIENTATION[args.fov])
        projection = orient(s.octa.mean(axis=1, dtype=np.float32), ORIENTATION[args.fov])
        row = {**realism.subject_stats(s.octa, label, projection), "oct_mean": float(s.oct.mean())}
        rows.append(row)
        bad = realism.out_of_band(row)
        print(f"{sid} " + " ".join(f"{k}={v:.3g}" for k, v in row.items()) + (f"  OUT {bad}" if bad else ""))
        del s
    print(f"{args.fov}: {len(rows)} subjects, seed {args.seed}")
    print(f"{'statistic':22s} {'mean':>8s} {'min':>8s} {'max':>8s}  target")
    for key in rows[0]:
        v = np.array([r[key] for r in rows])
        band = realism.TARGETS.get(key, (75.0, 105.0) if key == "oct_mean" else None)
        print(f"{key:22s} {v.mean():8.3f} {v.min():8.3f} {v.max():8.3f}  {band}")
    bad = [i for i, r in enumerate(rows) if realism.out_of_band(r)]
    print(f"subjects out of band: {len(bad)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=5, help="subjects to time (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", action="store_true", help="also time write_subject")
    parser.add_argument("--stats", type=int, default=0, metavar="N", help="realism statistics of N subjects")
    parser.add_argument("--fov", choices=sorted(FIRST_ID), default="6mm", help="field of view for --stats")
    args = parser.parse_args()
    if args.stats:
        stats(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
