"""Benchmark: what the model shipped with the package scores, on inputs it never trained on.

    python bench/bench_shipped.py --data-root /data/OCTA-500 [--reference DIR] [--work DIR]
        [--checkpoint FILE] [--tta {none,flips,d4}] [--volumes 6]

Runs the user's commands, ``octaseg predict --input ...`` (no ``--checkpoint``: the
shipped model, or ``--checkpoint FILE``) and ``octaseg evaluate``, on

1. the real ``OCTA(ILM_OPL)`` maps of OCTA-500's validation splits (6mm 10181-10200, 3mm
   10441-10450) against their large-vessel labels;
2. with ``--reference``, the real ``OCTA(FULL)`` maps of ``shared/reference``'s
   ``octa500-real-examples`` (folders ``6M_<id>``/``3M_<id>`` holding ``OCTA_FULL.bmp``
   and ``GT_LargeVessel.bmp``);
3. mean projections of ``--volumes`` synthetic B-scan volumes (seed 1, a seed no model
   here trained on), written as the workflow's projections are, against their labels;

and prints the mean Dice of each. The data is only read; everything is written under
``--work``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
from bench_transfer import REAL_VAL

from octaseg.io import write_image
from octaseg.projection import mean_projection, orient
from octaseg.synth import FOV_GEOMETRY, generate_subject


def octaseg(*args: str) -> None:
    cmd = [sys.executable, "-m", "octaseg.cli", *args]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def score(name: str, images: list[Path], truth: Path, work: Path, extra: list[str]) -> dict:
    """Predict ``images`` with the shipped model (or the ``--checkpoint`` in ``extra``,
    the predict options to add) and score the masks against the labels in ``truth``
    (matched by the leading subject id)."""
    out = work / name
    octaseg("predict", "--input", *map(str, images), "--out", str(out), *extra)
    metrics = out / "metrics.csv"
    octaseg("evaluate", "--pred", str(out / "masks"), "--truth", str(truth), "--out", str(metrics))
    with open(metrics, newline="") as f:
        dice = [float(r["dice"]) for r in csv.DictReader(f)]
    return {"input": name, "subjects": len(dice), "dice": np.mean(dice), "sd": np.std(dice)}


def reference_inputs(reference: Path, work: Path) -> tuple[list[Path], Path]:
    """The reference OCTA(FULL) maps and labels, linked under ids the CLI can match."""
    maps, labels = work / "reference" / "maps", work / "reference" / "labels"
    for folder in (maps, labels):
        folder.mkdir(parents=True, exist_ok=True)
    images = []
    for subject in sorted(reference.glob("*M_*")):
        sid = subject.name.split("_")[1]
        pairs = (
            (subject / "OCTA_FULL.bmp", maps / f"{sid}.bmp"),
            (subject / "GT_LargeVessel.bmp", labels / f"{sid}.bmp"),
        )
        for src, dst in pairs:
            if not dst.exists():
                dst.symlink_to(src.resolve())
        images.append(maps / f"{sid}.bmp")
    return images, labels


def volume_inputs(count: int, work: Path) -> tuple[list[Path], Path]:
    """Mean projections of synthetic 6mm volumes (seed 1) in the label frame, and labels."""
    maps, labels = work / "volumes" / "projections", work / "volumes" / "labels"
    scans, depth, width = FOV_GEOMETRY["6mm"]
    images = []
    for sid in range(1, count + 1):
        subject = generate_subject(sid, seed=1, scans=scans, depth=depth, width=width)
        write_image(maps / f"{sid}.tif", orient(mean_projection(subject.octa), "flipud").astype(np.float32))
        write_image(labels / f"{sid}.png", orient(subject.label, "flipud"))
        images.append(maps / f"{sid}.tif")
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, required=True, help="an OCTA-500 copy (maps and labels)")
    parser.add_argument("--reference", type=Path, help="shared/reference/octa500-real-examples")
    parser.add_argument("--work", type=Path, default=Path("runs/bench_shipped"))
    parser.add_argument("--checkpoint", help="score this model instead of the shipped one")
    parser.add_argument(
        "--tta",
        choices=("none", "flips", "d4"),
        help="test-time augmentation (default: the model's own; a training's best.pt stores "
        "none, the workflow predicts with its experiment's tta: give it to match)",
    )
    parser.add_argument("--volumes", type=int, default=6, help="synthetic volumes to project (0: none)")
    args = parser.parse_args()
    extra = ["--checkpoint", args.checkpoint] if args.checkpoint else []
    extra += ["--tta", args.tta] if args.tta else []
    rows = []
    labels = args.data_root / "Label" / "GT_LargeVessel"
    for fov, (first, last) in REAL_VAL.items():
        folder = args.data_root / f"OCTA_{fov}" / "Projection Maps" / "OCTA(ILM_OPL)"
        images = [folder / f"{i}.bmp" for i in range(first, last + 1)]
        rows.append(score(f"real_{fov}_ilm_opl_val", images, labels, args.work, extra))
    if args.reference:
        images, truth = reference_inputs(args.reference, args.work)
        rows.append(score("real_octa_full_reference", images, truth, args.work, extra))
    if args.volumes:
        images, truth = volume_inputs(args.volumes, args.work)
        rows.append(score("synthetic_mean_projection_seed1", images, truth, args.work, extra))
    print("| input | subjects | Dice |\n|---|---|---|")
    for r in rows:
        print(f"| {r['input']} | {r['subjects']} | {r['dice']:.4f} ± {r['sd']:.4f} |")


if __name__ == "__main__":
    main()
