"""Benchmark: seconds for a dry run of the workflow over a 300-subject dataset.

    python bench/bench_dag.py [--subjects 300] [--repeat 3] [--keep DIR]

Writes a dataset of ``--subjects`` tiny subjects (ids 10001..) in the OCTA-500 layout
into a temporary folder: real files, 4 B-scans of 8x8 per subject for OCTA and OCT, an
8x8 label, the six official projection maps and a GT_Layers file, so that subject
discovery, the split and every rule's inputs are those of a real dataset of that size;
only the pixels are few. Then times ``snakemake --dry-run`` on it with the default
config.yaml (the official split 10001-10180 / 10181-10200 / 10201-10300, every
experiment and the baseline), as a user runs it: a new process, from an empty working
folder (every job to do), printing every job. Prints the seconds of
each run, the number of jobs, and the best against the target of 10 s.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

try:
    from octaseg.io import write_image
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from octaseg.io import write_image
from octaseg.layers import SURFACES, write_gt_layers
from octaseg.layout import map_path
from octaseg.projection import MAP_REDUCTIONS

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 10.0


def write_dataset(root: Path, ids: range, scans: int = 4, size: int = 8) -> None:
    bscan = np.zeros((size, size), np.uint8)
    label = np.zeros((size, size), np.uint8)
    label[:, size // 2] = 255
    surfaces = {name: np.full((scans, size), 2.0 + k, np.float32) for k, name in enumerate(SURFACES)}
    (root / "Label" / "GT_LargeVessel").mkdir(parents=True)
    for i in ids:
        for modality in ["OCTA", "OCT"]:
            folder = root / "OCTA_6mm" / modality / str(i)
            folder.mkdir(parents=True)
            for s in range(1, scans + 1):
                cv2.imwrite(str(folder / f"{s}.bmp"), bscan)
        for modality, slab in MAP_REDUCTIONS:  # the official projection maps
            write_image(map_path(root, "6mm", f"{modality}({slab})", i), label)
        write_gt_layers(root / "Label" / "GT_Layers" / f"{i}.mat", surfaces)
        cv2.imwrite(str(root / "Label" / "GT_LargeVessel" / f"{i}.bmp"), label)


def dry_run(data: Path, work: Path, config: Path) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(work), "--configfile", str(config), "--cores", "2", "--dry-run"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"dry run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the dataset here and keep it")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        data, work = base / "data", base / "work"
        ids = range(10001, 10001 + args.subjects)
        start = time.perf_counter()
        write_dataset(data, ids)
        print(f"dataset: {args.subjects} subjects written in {time.perf_counter() - start:.1f} s ({data})")
        config = base / "bench.yaml"
        config.write_text(f"data_root: {data}\nexpect_scans: {{6mm: 4, 3mm: 4}}\n")
        work.mkdir()
        times = []
        for _ in range(args.repeat):
            seconds, out = dry_run(data, work, config)
            times.append(seconds)
            jobs = re.search(r"^total\s+(\d+)$", out, re.MULTILINE)
            print(f"dry run: {seconds:.2f} s, {jobs.group(1) if jobs else '?'} jobs")
        load = os.getloadavg()[0]
        best = min(times)
        verdict = "OK" if best < TARGET_S else "TOO SLOW"
        print(
            f"dry run over {args.subjects} subjects: best {best:.2f} s of {len(times)} "
            f"(target < {TARGET_S:.0f} s): {verdict}; load average {load:.1f} on {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
