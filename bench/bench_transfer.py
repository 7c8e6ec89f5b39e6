"""Benchmark: how well a model trained on synthetic data only segments real OCTA-500 maps.

    python bench/bench_transfer.py --data-root /data/OCTA-500 [--fov 6mm] [--subjects 100]
        [--epochs 10] [--steps 50] [--runs runs]

For the field of view it

1. writes ``--subjects`` synthetic subjects (maps and labels only, ``octaseg synth
   --maps-only``) into ``runs/transfer_<fov>/data``, ids 1..N, with the package's
   generator;
2. links the real validation split's ``OCTA(ILM_OPL)`` maps and labels beside them (links,
   not copies; 6mm 10181-10200, 3mm 10441-10450);
3. runs the real-data recipe (``config/octa500.yaml``) on that root with the split set so
   that training and model selection see synthetic subjects only (train: the first 90%,
   val: the rest) and the real subjects are the test split, with the domain randomization
   of ``--augment``;
4. prints the mean Dice on the real subjects of the synthetic-only model and of Frangi +
   Otsu, and the training time.

No real label is read before the test split is scored. A finished run re-runs nothing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

from bench_real import read_rows, summary_table, training_table

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "config" / "octa500.yaml"
REAL_VAL = {"6mm": (10181, 10200), "3mm": (10441, 10450)}
MAP = "OCTA(ILM_OPL)"
AUGMENT = {
    "elastic": 0.3,
    "contrast": 0.5,
    "gamma": 0.3,
    "noise": 0.2,
    "blur": 0.2,
    "brightness_field": 0.3,
    "downsample": 0.2,
}


def synthesize(data: Path, fov: str, count: int, seed: int, jobs: int) -> None:
    """Synthetic subjects 1..count in ``jobs`` parallel ``octaseg synth`` processes."""
    bounds = [1 + round(i * count / jobs) for i in range(jobs + 1)]
    procs = []
    for lo, hi in itertools.pairwise(bounds):
        if hi > lo:
            cmd = [sys.executable, "-m", "octaseg.cli", "synth", str(data), "--ids", f"{lo}-{hi - 1}"]
            cmd += ["--fov", fov, "--seed", str(seed), "--maps-only"]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL))
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("octaseg synth failed")


def link_real(data: Path, real: Path, fov: str) -> list[int]:
    """Link the real validation maps and labels into ``data``; returns their ids."""
    lo, hi = REAL_VAL[fov]
    ids = list(range(lo, hi + 1))
    for i in ids:
        for rel in (
            Path(f"OCTA_{fov}") / "Projection Maps" / MAP / f"{i}.bmp",
            Path("Label/GT_LargeVessel") / f"{i}.bmp",
        ):
            src, dst = real / rel, data / rel
            if not src.is_file():
                raise SystemExit(f"{src}: missing; --data-root must hold OCTA-500's {MAP} maps and labels")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists():
                dst.symlink_to(src)
    return ids


def write_config(path: Path, fov: str, count: int, real_ids: list[int], args: argparse.Namespace) -> None:
    n_train = max(1, round(0.9 * count))
    config = {
        "split": {
            fov: {
                "train": f"1-{n_train}",
                "val": f"{n_train + 1}-{count}",
                "test": f"{real_ids[0]}-{real_ids[-1]}",
            }
        },
        "train_defaults": {
            "epochs": args.epochs,
            "steps_per_epoch": args.steps,
            "patience": args.epochs,
            "augment": json.loads(args.augment),
        },
        "experiments": {"unet_ilm_opl": False, "synthetic_ilm_opl": None},
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="an OCTA-500 copy (maps and labels)")
    parser.add_argument("--fov", default="6mm", choices=sorted(REAL_VAL))
    parser.add_argument("--subjects", type=int, default=100, help="synthetic subjects to train on")
    parser.add_argument("--seed", type=int, default=0, help="the synthetic dataset's seed")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50, help="steps per epoch")
    parser.add_argument("--augment", default=json.dumps(AUGMENT), help="augment setting, as JSON")
    parser.add_argument("--runs", type=Path, default=REPO / "runs", help="working directories go here")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    work = (args.runs / f"transfer_{args.fov}").resolve()
    data = work / "data"
    if not (data / "Label" / "GT_LargeVessel" / f"{args.subjects}.bmp").is_file():
        synthesize(data, args.fov, args.subjects, args.seed, args.cores)
    real_ids = link_real(data, args.data_root.resolve(), args.fov)
    write_config(work / "transfer.yaml", args.fov, args.subjects, real_ids, args)
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(work),
    ]
    cmd += ["--configfile", str(RECIPE), str(work / "transfer.yaml"), "--cores", str(args.cores)]
    cmd += ["--config", f"data_root={data}", f"fov={args.fov}"]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    n_test = len({r["subject"] for r in read_rows(next(work.glob("results/*/metrics.csv")))})
    print(f"\n## Synthetic-only training, scored on {n_test} real OCTA-500 {args.fov} subjects ({work})\n")
    for table in (summary_table, training_table):
        print("\n".join(table(work)), "\n")


if __name__ == "__main__":
    main()
