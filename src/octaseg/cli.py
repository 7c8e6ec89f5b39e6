"""The ``octaseg`` command: the workflow's steps, one at a time, outside Snakemake.

octaseg synth ROOT --ids 10001-10004 [--scans N --width W --depth D --seed S --fov 6mm]
octaseg ingest BMP_DIR OUT.h5 [--expect-scans N]
octaseg project VOLUME.h5 OUT.tif [--orientation flipud]
octaseg predict [--checkpoint best.pt] --input PROJ_MAP_OR_H5[,CHANNEL2...] [...] --out DIR [--tta d4 ...]
octaseg evaluate --pred DIR --truth DIR --out CSV
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from octaseg import __version__
from octaseg.layout import IMAGE_SUFFIXES, LEADING_ID


def _synth(args: argparse.Namespace) -> None:
    from octaseg.layout import FOV_GEOMETRY, parse_ids
    from octaseg.synth import generate_subject, write_subject

    scans, depth, width = FOV_GEOMETRY[args.fov]
    for subject_id in parse_ids(args.ids):
        subject = generate_subject(
            subject_id,
            seed=args.seed,
            scans=args.scans or scans,
            depth=args.depth or depth,
            width=args.width or width,
        )
        write_subject(
            args.root, subject, fov=args.fov, orientation=args.orientation, volumes=not args.maps_only
        )
        print(f"{subject_id}: written under {args.root}")


def _synth_report(args: argparse.Namespace) -> None:
    from octaseg import synth_report
    from octaseg.io import write_csv
    from octaseg.layout import parse_ids

    report = synth_report.build(
        args.root, args.fov, parse_ids(args.ids) if args.ids else None, args.orientation
    )
    print(synth_report.format_report(report))
    if args.out:
        write_csv(args.out, report.rows, synth_report.csv_fields(report.rows))
    problems = synth_report.failures(report)
    if args.check and problems:
        raise ValueError("statistics out of the OCTA-500 bands: " + "; ".join(problems))


def _ingest(args: argparse.Namespace) -> None:
    from octaseg.io import ingest_bscans

    shape = ingest_bscans(
        args.bmp_dir, args.out, args.expect_scans, attrs={"source_folder": str(args.bmp_dir)}
    )
    print(f"{args.out}: volume {shape} (scan, depth, x)")


def _project(args: argparse.Namespace) -> None:
    from octaseg.io import read_volume, write_image
    from octaseg.projection import mean_projection, orient

    write_image(args.out, orient(mean_projection(read_volume(args.volume)), args.orientation))
    print(f"{args.out}: mean projection, orientation {args.orientation}")


def _predict(args: argparse.Namespace) -> None:
    import torch

    from octaseg import checkpoints
    from octaseg.predict import load_trained, predict_files

    if args.checkpoint is None:  # the model shipped with the package (or $OCTASEG_WEIGHTS)
        checkpoint = checkpoints.shipped_weights()
        where = f"the default model {checkpoint}"
        print(f"no --checkpoint: using {checkpoint}", file=sys.stderr)
    else:
        checkpoint = Path(args.checkpoint)
        where = f"--checkpoint {checkpoint}"
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"predict_mode": args.mode, "window": args.window, "stride": args.stride,
                 "blend": args.blend, "tta": args.tta, "predict_batch_size": args.batch_size}  # fmt: skip
    trained = load_trained(checkpoint, where, overrides, args.threshold, args.device)
    if trained.settings.get("tta") is None:  # a training's best.pt: tta is prediction's alone
        print(
            f"{where} stores no test-time augmentation (a training's checkpoint does not; the "
            "workflow predicts with its experiment's tta): predicting without; give --tta "
            "flips (or d4) to predict as an experiment with tta: flips did",
            file=sys.stderr,
        )
    out = Path(args.out)
    for item in args.input:
        paths = [Path(p) for p in item.split(",")]
        name = paths[0].name.split(".")[0]
        mask = out / "masks" / f"{name}.png"
        prob = predict_files(trained, paths, out / "probability" / f"{name}.tif", mask, args.orientation)
        print(f"{item}: vessel fraction {float((prob >= trained.threshold).mean()):.4f} -> {mask}")


def _by_id(folder: Path, what: str) -> dict[int, Path]:
    if not folder.is_dir():
        raise SystemExit(f"error: --{what} {folder}: no such folder")
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = LEADING_ID.match(path.name)
        if path.suffix.lower() not in IMAGE_SUFFIXES or not match:
            continue
        subject = int(match.group(1))
        if subject in found:
            raise SystemExit(
                f"error: --{what} {folder}: two files for subject {subject}: "
                f"{found[subject].name}, {path.name}"
            )
        found[subject] = path
    return found


def _evaluate(args: argparse.Namespace) -> None:
    from octaseg.io import write_csv
    from octaseg.metrics import evaluate_files

    preds, truths = _by_id(Path(args.pred), "pred"), _by_id(Path(args.truth), "truth")
    ids = sorted(preds)
    if not ids:
        raise SystemExit(f"error: --pred {args.pred}: no mask images named by subject id (e.g. 10001.png)")
    missing = [i for i in ids if i not in truths]
    if missing:
        raise SystemExit(f"error: --truth {args.truth}: no label for subjects {missing}")
    rows = evaluate_files(ids, [preds[i] for i in ids], [truths[i] for i in ids])
    write_csv(args.out, rows)
    mean = sum(r["dice"] for r in rows) / len(rows)
    print(f"{args.out}: {len(rows)} subjects, mean Dice {mean:.4f}")


def _add_synth(sub: argparse._SubParsersAction, orientations: list[str]) -> None:
    """The ``synth`` command: write synthetic subjects."""
    p = sub.add_parser("synth", help="write synthetic subjects in the OCTA-500 layout")
    p.add_argument("root", help="dataset root to write (OCTA_<fov>/OCTA/<id>/, Label/GT_LargeVessel/)")
    p.add_argument("--ids", required=True, help="subject ids, e.g. 10001-10004,10010")
    p.add_argument("--fov", choices=["6mm", "3mm"], default="6mm")
    p.add_argument("--scans", type=int, help="B-scans per subject (default: the fov's, 400 or 304)")
    p.add_argument("--depth", type=int, help="depth rows per B-scan (default 640)")
    p.add_argument("--width", type=int, help="A-scans per B-scan (default: the fov's, 400 or 304)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--orientation",
        choices=orientations,
        default=None,
        help="label orientation (default: flipud for 6mm, fliplr for 3mm, as OCTA-500)",
    )
    p.add_argument(
        "--maps-only",
        action="store_true",
        help="write the projection maps, masks and labels but no B-scan volumes (0.5 MB a subject)",
    )
    p.set_defaults(func=_synth)


_SYNTH_REPORT_DESCRIPTION = (
    "Per subject: B-scan volume and label statistics and the Frangi + Otsu "
    "baseline Dice (octaseg.realism.TARGETS), the label's vessel geometry "
    "(vessel_geometry.REAL_GEOMETRY) and the appearance of its OCTA(ILM_OPL) map "
    "(map_appearance.REAL_APPEARANCE); per group a summary: median [p5, p95] over the "
    "subjects, the real band, how many subjects fall outside it, OUT where the median "
    "does. A maps-only dataset (no B-scan folders) is read from its labels and maps: "
    "volume statistics are skipped, the baseline runs on the OCTA(FULL) or OCTA(ILM_OPL) map."
)
_PREDICT_DESCRIPTION = (
    "Writes OUT/probability/<name>.tif (float32, 0..1) and OUT/masks/<name>.png "
    "(0/255) per input, with the checkpoint's own preprocessing and prediction settings "
    "unless overridden."
)


def _add_synth_report(sub: argparse._SubParsersAction, orientations: list[str]) -> None:
    """The ``synth-report`` command: a dataset's realism statistics."""
    about = "realism statistics of a dataset beside real OCTA-500's bands"
    p = sub.add_parser("synth-report", help=about, description=_SYNTH_REPORT_DESCRIPTION)
    p.add_argument("root", help="dataset root in the OCTA-500 layout (synthetic or real)")
    p.add_argument("--fov", choices=["6mm", "3mm"], default="6mm")
    p.add_argument(
        "--ids",
        help="subject ids (default: every B-scan folder, or without any every label with a map of the fov)",
    )
    p.add_argument(
        "--orientation",
        choices=orientations,
        default=None,
        help="projection -> label transform (default: flipud for 6mm, fliplr for 3mm)",
    )
    p.add_argument("--out", help="also write the per-subject statistics to this CSV")
    p.add_argument(
        "--check",
        action="store_true",
        help="exit 1, naming them, if a subject falls out of a TARGETS band or the dataset's median "
        "of a geometry or appearance statistic falls out of its real band (those bands are real "
        "subjects' 5th-95th percentiles: one real subject in ten is outside each, so they are "
        "checked on the median, not per subject)",
    )
    p.set_defaults(func=_synth_report)


def _add_ingest_and_project(sub: argparse._SubParsersAction, orientations: list[str]) -> None:
    """The ``ingest`` (B-scans -> HDF5) and ``project`` (HDF5 -> projection) commands."""
    p = sub.add_parser("ingest", help="one subject's B-scan BMP folder -> HDF5 volume")
    p.add_argument("bmp_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--expect-scans", type=int, help="required number of B-scans")
    p.set_defaults(func=_ingest)

    p = sub.add_parser("project", help="HDF5 volume -> mean projection (float32 TIFF) in the label frame")
    p.add_argument("volume", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--orientation", choices=orientations, default="flipud")
    p.set_defaults(func=_project)


def _add_predict(sub: argparse._SubParsersAction, orientations: list[str]) -> None:
    """The ``predict`` command: probability maps and masks with a trained model."""
    about = "vessel probability and mask of projections or volumes with a trained checkpoint"
    p = sub.add_parser("predict", help=about, description=_PREDICT_DESCRIPTION)
    p.add_argument(
        "--checkpoint",
        help="a best.pt or last.pt written by training, or an exported model (default: the model "
        "shipped with octaseg, weights/synthetic_unet.pt, trained on synthetic OCTA(ILM_OPL) maps "
        "only; $OCTASEG_WEIGHTS names another file to use by default)",
    )
    p.add_argument(
        "--input",
        required=True,
        nargs="+",
        help="en-face models: projection images or official projection maps (TIFF/PNG/BMP, in "
        "the label frame) or, for OCTA(FULL), ingested HDF5 volumes; several channels: one file "
        "per channel joined by commas, in the experiment's order; volume models (IPN): HDF5 "
        "volumes, one per channel joined by commas (e.g. octa.h5,oct.h5)",
    )
    p.add_argument("--out", default="predictions", help="output folder (default: ./predictions)")
    p.add_argument("--mode", choices=["whole", "window"], help="whole image at once or sliding windows")
    p.add_argument("--window", type=int, help="window mode: window size")
    p.add_argument("--stride", type=int, help="window mode: largest step between windows")
    p.add_argument("--blend", choices=["gaussian", "constant"], help="window mode: blending")
    p.add_argument("--tta", choices=["none", "flips", "d4"], help="test-time augmentation")
    p.add_argument("--batch-size", type=int, help="windows per forward pass")
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="probability threshold of the mask (default: the checkpoint's, chosen on validation "
        "with threshold: val, else 0.5)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: the checkpoint's setting")
    p.add_argument("--threads", type=int, help="CPU threads (default: torch's choice)")
    p.add_argument(
        "--orientation",
        choices=orientations,
        default="flipud",
        help="HDF5 volumes from ingest: projection -> label frame transform (default flipud, 6mm)",
    )
    p.set_defaults(func=_predict)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    """The ``evaluate`` command: predicted masks scored against labels."""
    p = sub.add_parser("evaluate", help="score predicted masks against labels, matched by subject id")
    p.add_argument("--pred", required=True, help="folder of predicted masks (<id>*.png/bmp/tif)")
    p.add_argument("--truth", required=True, help="folder of labels (<id>.bmp), e.g. Label/GT_LargeVessel")
    p.add_argument("--out", required=True, help="CSV to write, one row per subject")
    p.set_defaults(func=_evaluate)


def build_parser() -> argparse.ArgumentParser:
    from octaseg.projection import TRANSFORMS

    parser = argparse.ArgumentParser(
        prog="octaseg", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"octaseg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    orientations = sorted(TRANSFORMS)
    for add in (_add_synth, _add_synth_report, _add_ingest_and_project, _add_predict):
        add(sub, orientations)
    _add_evaluate(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from octaseg.io import InputError

    args = build_parser().parse_args(argv)
    if getattr(args, "orientation", "") is None:
        args.orientation = {"6mm": "flipud", "3mm": "fliplr"}[args.fov]
    try:
        args.func(args)
    except (InputError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
