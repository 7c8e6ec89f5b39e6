"""Benchmark: the README's first command, as a new user runs it, against its 10 minutes.

    python bench/bench_demo.py [--rev HEAD] [--keep DIR] [--configfile FILE]

Clones this repository at ``--rev`` into an empty folder, makes a fresh virtual
environment, and runs the README's first command there in its two parts, each timed:
``pip install torch==2.13.0 && pip install -e .`` and ``snakemake --cores all`` (with
``--configfile FILE``, relative to the clone, e.g. ``config/demo_full.yaml``: another
grid). Then prints:

- the minutes of each part and of both, against the budget of 10 minutes;
- the wall seconds of each rule's jobs, summed, from Snakemake's log (two jobs at a time
  on 2 cores, so they add up to about twice the run), and the training jobs' CPU time;
- the test Dice of each method from ``results/summary.csv``;
- whether a second ``snakemake --cores all`` says "Nothing to be done";
- ``bench_train.py --base 16``'s samples/s on this machine (after the demo, not timed
  with it), the speed the README states beside every time.

Run it on an otherwise idle machine: the times are the point.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET_MIN = 10.0
INSTALL = "pip install --quiet torch==2.13.0 && pip install --quiet -e ."


def sh(command: str, cwd: Path, venv: Path) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``command`` in bash inside ``venv``; its seconds and result (exit on failure)."""
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    start = time.perf_counter()
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"`{command}` failed in {cwd}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return seconds, done


def job_seconds(log: str) -> dict[str, float]:
    """Wall seconds of each rule's jobs, summed, from a Snakemake log (its timestamps)."""
    stamp = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
    started, rule_of, total = {}, {}, collections.Counter()
    now, rule = None, None
    for line in log.splitlines():
        if m := stamp.match(line):
            now = datetime.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = m.group(1)
        elif (m := re.match(r"^\s+jobid: (\d+)$", line)) and rule:
            started[m.group(1)], rule_of[m.group(1)] = now, rule
            rule = None
        elif m := re.match(r"^Finished jobid: (\d+)", line):
            job = m.group(1)
            if job in started:
                total[rule_of[job]] += (now - started[job]).total_seconds()
    return dict(total)


def training_cpu(work: Path) -> dict[str, float]:
    """CPU seconds of each training job, from its benchmark file."""
    cpu = {}
    for tsv in sorted((work / "benchmarks" / "train").glob("*.tsv")):
        with open(tsv) as f:
            cpu[tsv.stem] = float(next(csv.DictReader(f, delimiter="\t"))["cpu_time"])
    return cpu


def report(work: Path, install_s: float, run_s: float) -> None:
    total_min = (install_s + run_s) / 60
    verdict = "met" if total_min <= BUDGET_MIN else "NOT met"
    print(
        f"install {install_s / 60:.1f} min, run {run_s / 60:.1f} min: {total_min:.1f} min all in "
        f"(budget {BUDGET_MIN:.0f} min: {verdict})"
    )
    logs = sorted((work / ".snakemake" / "log").glob("*.snakemake.log"))
    seconds = job_seconds(logs[0].read_text())
    print("job wall seconds by rule (summed over its jobs):")
    for rule, s in sorted(seconds.items(), key=lambda item: -item[1]):
        print(f"  {rule:18s} {s:7.0f}")
    print("training CPU seconds: " + ", ".join(f"{e} {s:.0f}" for e, s in training_cpu(work).items()))
    with open(work / "results" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    print("test split (mean over its subjects): method, Dice, balanced accuracy, IoU")
    for r in rows:
        print(
            f"  {r['method']:14s} {float(r['dice']):.3f} "
            f"{float(r['balanced_accuracy']):.3f} {float(r['iou']):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", default="HEAD", help="revision to clone (default: HEAD)")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    parser.add_argument("--configfile", help="a config file of the clone, e.g. config/demo_full.yaml")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        clone, venv = base / "octaseg", base / "venv"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", args.rev], check=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        print(f"clean clone of {args.rev} in {clone}, fresh virtual environment {venv}")
        install_s, _ = sh(INSTALL, clone, venv)
        run = "snakemake --cores all" + (f" --configfile {args.configfile}" if args.configfile else "")
        run_s, _ = sh(run, clone, venv)
        report(clone, install_s, run_s)
        _, again = sh(run, clone, venv)
        nothing = "Nothing to be done" in again.stdout + again.stderr
        print(f"second run: {'Nothing to be done' if nothing else 'SOMETHING TO DO'}")
        _, speed = sh("python bench/bench_train.py --base 16", clone, venv)
        print("bench_train.py --base 16 (after the demo):\n" + speed.stdout.strip())


if __name__ == "__main__":
    main()
