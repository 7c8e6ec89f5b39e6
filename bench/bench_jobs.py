"""Benchmark: wall time of the non-training jobs of a 300-subject maps run, two revisions
side by side.

    python bench/bench_jobs.py [--before 9f4f8da] [--after HEAD] [--subjects 300] [--keep DIR]

Writes ``--subjects`` synthetic subjects' official-style maps and labels (full size, 400 x
400, ``octaseg synth --maps-only``; ``--distinct`` of them grown, the others hard links to
their files) once, then runs the whole workflow on them with
``source: maps`` and ``--cores 2`` for each revision, from a checkout of it (``git
worktree``) and an empty working folder: one experiment on the OCTA(ILM_OPL) maps and the
Frangi + Otsu baseline, split as OCTA-500 6mm is (180 train, 20 val, 100 test). Its
training is cut to one step, so what is timed is everything else: the orientation guard
(one job per subject), prediction, evaluation, figures and the summary.

Prints, per revision, the jobs by rule, the whole run's wall time, the training job's
(from its benchmark file) and the rest, and the ratio of the rest after to before. The
default revisions are the last commit before prediction became one job per experiment
(9f4f8da, one per subject) and the working tree's HEAD.
"""

from __future__ import annotations

import argparse
import collections
import csv
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]

CONFIG = """\
data_root: {data}
source: maps
fov: 6mm
split: {{train: 1-180, val: 181-200, test: 201-{last}}}
baseline: true
train_defaults:
  channels: ["OCTA(ILM_OPL)"]
  channels_from: maps
  epochs: 1
  steps_per_epoch: 1
  batch_size: 2
  patch_size: 64
  amp: false
experiments: {{{off}, maps_ilm: null}}
"""


def config_text(data: Path, subjects: int) -> str:
    """The run's config: config.yaml's experiments off, one of its own on."""
    defaults = yaml.safe_load((REPO / "config.yaml").read_text())["experiments"]
    off = ", ".join(f"{name}: false" for name in defaults)
    return CONFIG.format(data=data, last=subjects, off=off)


def write_dataset(root: Path, subjects: int, distinct: int) -> None:
    """Synthesize ``distinct`` subjects' maps and labels (ids 1..distinct), then give ids
    up to ``subjects`` hard links to their files in turn: what the jobs time does not
    depend on which vessels a map holds, and growing 300 trees would take half an hour."""
    cmd = [sys.executable, "-m", "octaseg.cli", "synth", str(root), "--ids", f"1-{distinct}", "--maps-only"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    files = [f for f in root.rglob("*.bmp") if f.stem.isdigit() and int(f.stem) <= distinct]
    for i in range(distinct + 1, subjects + 1):
        for f in files:
            if int(f.stem) == (i - 1) % distinct + 1:
                os.link(f, f.with_name(f"{i}{f.suffix}"))


def checkout(rev: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), rev],
        check=True,
        capture_output=True,
    )
    return where


def run_workflow(tree: Path, work: Path, config: Path) -> tuple[float, float, collections.Counter]:
    """Seconds of the whole run, seconds of its training job, and its jobs by rule."""
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(tree / "Snakefile"),
        "--directory",
        str(work),
    ]
    cmd += ["--configfile", str(config), "--cores", "2"]
    env = {**os.environ, "PYTHONPATH": str(tree / "src")}
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"workflow at {tree} failed:\n{done.stderr[-3000:]}")
    stats = re.search(r"Job stats:\njob\s+count\n[-\s]+\n(.*?)\ntotal", done.stderr, re.DOTALL)
    jobs = collections.Counter()
    for line in stats.group(1).splitlines() if stats else []:
        rule, count = line.split()
        jobs[rule] = int(count)
    with open(work / "benchmarks" / "train" / "maps_ilm.tsv") as f:
        training = float(next(csv.DictReader(f, delimiter="\t"))["s"])
    return seconds, training, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="9f4f8da", help="revision timed first (default: 9f4f8da)")
    parser.add_argument("--after", default="HEAD", help="revision timed second (default: HEAD)")
    parser.add_argument("--subjects", type=int, default=300)
    parser.add_argument("--distinct", type=int, default=10, help="subjects synthesized; the rest are copies")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    args = parser.parse_args()
    if args.subjects < 201:
        parser.error(
            f"--subjects must be at least 201 (180 train, 20 val, a test split), got {args.subjects}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        data = base / "data"
        start = time.perf_counter()
        write_dataset(data, args.subjects, args.distinct)
        print(
            f"dataset: {args.subjects} subjects' maps ({args.distinct} synthesized, the rest copies) "
            f"written in {time.perf_counter() - start:.0f} s ({data})"
        )
        config = base / "bench.yaml"
        config.write_text(config_text(data, args.subjects))
        rows = {}
        try:
            for name, rev in (("before", args.before), ("after", args.after)):
                tree = checkout(rev, base / f"tree_{name}")
                seconds, training, jobs = run_workflow(tree, base / f"work_{name}", config)
                rows[name] = seconds - training
                listed = ", ".join(f"{rule} {n}" for rule, n in sorted(jobs.items()) if rule != "all")
                print(f"{name} ({rev}): {sum(jobs.values()) - 1} jobs ({listed})")
                print(f"  whole run {seconds:.0f} s, training {training:.0f} s, the rest {rows[name]:.0f} s")
        finally:
            for name in ("before", "after"):
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(base / f"tree_{name}")],
                    capture_output=True,
                )
        load = os.getloadavg()[0]
        print(
            f"non-training jobs over {args.subjects} subjects: {rows['before']:.0f} s before, "
            f"{rows['after']:.0f} s after ({rows['after'] / rows['before']:.2f}x); "
            f"load average {load:.1f} on {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
