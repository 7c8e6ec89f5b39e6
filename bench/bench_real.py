"""Benchmark: the real-data recipe (config/octa500.yaml) on an OCTA-500 copy.

    python bench/bench_real.py --data-root /data/OCTA-500 [--fov 6mm 3mm] [--runs runs]
    python bench/bench_real.py --data-root /data/OCTA-500 --report-only

For each field of view it runs the workflow on the copy, each in its own working
directory (``runs/octa500_<fov>``; a finished one re-runs nothing), then prints:

1. per method, the mean (and standard deviation) of Dice, clDice and HD95 over the
   reported split (`test` in the recipe: the official validation split);
2. per trained experiment, the training wall time (the train job's benchmark file),
   epochs, training samples/s, the precision ``amp: auto`` chose and the threshold chosen
   on the val slice;
3. what the threshold and the test-time flips add: each experiment's best.pt predicted
   again here on the reported split at threshold 0.5 and at the chosen one, with and
   without flips.

The copy is only read. Nothing here is fitted to the reported split.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from octaseg import metrics
from octaseg.checkpoints import load_checkpoint, model_from_checkpoint
from octaseg.infer import predict_with_settings
from octaseg.io import read_label
from octaseg.layout import label_path, map_path
from octaseg.model_input import load_model_input
from octaseg.projection import Channel

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "config" / "octa500.yaml"


def run_workflow(data_root: Path, fov: str, workdir: Path, cores: int) -> None:
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", str(RECIPE), "--cores", str(cores)]
    cmd += ["--config", f"data_root={data_root}", f"fov={fov}"]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def read_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def summary_table(workdir: Path) -> list[str]:
    lines = ["| method | subjects | Dice | clDice | HD95 (px) |", "|---|---|---|---|---|"]
    for row in read_rows(workdir / "results" / "summary.csv"):
        cells = [f"{float(row[m]):.4f} ± {float(row[m + '_std']):.4f}" for m in ("dice", "cldice", "hd95")]
        lines.append(f"| {row['method']} | {row['n_subjects']} | " + " | ".join(cells) + " |")
    return lines


def training_table(workdir: Path) -> list[str]:
    lines = [
        "| experiment | train wall time | epochs (best) | samples/s | amp | threshold |",
        "|---|---|---|---|---|---|",
    ]
    for ckpt_path in sorted(workdir.glob("results/*/best.pt")):
        exp = ckpt_path.parent.name
        history = read_rows(ckpt_path.parent / "history.csv")
        best, last = load_checkpoint(ckpt_path), load_checkpoint(ckpt_path.parent / "last.pt")
        bench = workdir / "benchmarks" / "train" / f"{exp}.tsv"
        wall = float(read_rows(bench, "\t")[0]["s"]) / 60 if bench.is_file() else float("nan")
        speed = np.median([float(h["samples_per_s"]) for h in history])
        amp = "bf16" if last.get("amp") else "float32"
        lines.append(
            f"| {exp} | {wall:.1f} min | {len(history)} ({best['epoch']}) | {speed:.1f} | {amp} "
            f"| {best.get('threshold', 0.5):.2f} |"
        )
    return lines


def post_hoc_table(data_root: Path, fov: str, workdir: Path, test_ids: list[int]) -> list[str]:
    """Dice on the reported split at 0.5 and at the chosen threshold, without and with flips."""
    lines = [
        "| experiment | 0.5, no TTA | chosen, no TTA | 0.5, flips | chosen, flips |",
        "|---|---|---|---|---|",
    ]
    for ckpt_path in sorted(workdir.glob("results/*/best.pt")):
        ckpt = load_checkpoint(ckpt_path)
        model = model_from_checkpoint(ckpt, ckpt_path)
        settings = dict(ckpt["settings"])
        chosen = float(ckpt.get("threshold", 0.5))
        scores: dict[tuple[str, float], list[float]] = {}
        for i in test_ids:
            files = [map_path(data_root, fov, Channel.parse(c).map_folder, i) for c in settings["channels"]]
            image = load_model_input(files, settings)
            label = read_label(label_path(data_root, i), image.shape[1:])
            for tta in ("none", "flips"):
                prob = predict_with_settings(model, image, {**settings, "tta": tta}, torch.device("cpu"))
                for t in (0.5, chosen):
                    scores.setdefault((tta, t), []).append(metrics.dice(metrics.confusion(prob >= t, label)))
        cells = [np.mean(scores[(tta, t)]) for tta in ("none", "flips") for t in (0.5, chosen)]
        lines.append(f"| {ckpt_path.parent.name} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="an OCTA-500 copy (maps and labels)")
    parser.add_argument("--fov", nargs="+", default=["6mm", "3mm"], choices=["6mm", "3mm"])
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="working directories go here")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="only print the tables of finished runs")
    args = parser.parse_args()
    data_root = args.data_root.resolve()
    torch.set_num_threads(args.cores)
    for fov in args.fov:
        workdir = (args.runs / f"octa500_{fov}").resolve()
        if not args.report_only:
            run_workflow(data_root, fov, workdir, args.cores)
        test_ids = sorted({int(r["subject"]) for r in read_rows(next(workdir.glob("results/*/metrics.csv")))})
        print(f"\n## OCTA-500 {fov}: {len(test_ids)} subjects of the reported split ({workdir})\n")
        for table in (summary_table, training_table):
            print("\n".join(table(workdir)), "\n")
        print("\n".join(post_hoc_table(data_root, fov, workdir, test_ids)), "\n")


if __name__ == "__main__":
    main()
