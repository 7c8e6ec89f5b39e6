"""Benchmark: the geometry of large-vessel labels, real beside synthetic.

    python bench/label_geometry.py --data-root /data/OCTA-500 [--fov 6mm|3mm|both]
    python bench/label_geometry.py --data-root /data/OCTA-500 --synthetic /tmp/synth --fov 6mm

Measures :func:`octaseg.vessel_geometry.label_geometry` on every label under
``ROOT/Label/GT_LargeVessel`` (a label's field of view by its id: 6mm for 10001-10300,
3mm for 10301-10500; other ids take ``--fov``) and prints, per field of view, each
statistic's median [5th, 95th percentile] across subjects and the seconds per label.
With ``--synthetic ROOT2`` (a dataset in the same layout, e.g. from ``octaseg synth``)
the synthetic labels' figures are printed beside the real ones, with ``OUT`` where the
synthetic median falls outside the real [5th, 95th] band. The bands in
:data:`octaseg.vessel_geometry.REAL_GEOMETRY` are this command's real columns on the
OCTA-500 training and validation labels; ``--bands`` prints them as that constant's
table (rounded outwards to 2 significant digits of the band's width). The labels are
only read.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from octaseg.bands import summarize
from octaseg.io import read_label
from octaseg.layout import IMAGE_SUFFIXES, LEADING_ID, label_dir
from octaseg.vessel_geometry import label_geometry

MM_PER_PX = {"6mm": 6 / 400, "3mm": 3 / 304}
ID_RANGES = {"6mm": range(10001, 10301), "3mm": range(10301, 10501)}
Rows = dict[str, list[dict[str, float]]]


def fov_of(subject: int, fov: str) -> str | None:
    """The field of view of a label: by its id's OCTA-500 range, else ``fov`` unless "both"."""
    by_id = next((name for name, ids in ID_RANGES.items() if subject in ids), None)
    return by_id or (fov if fov != "both" else None)


def measure(root: Path, fov: str) -> tuple[Rows, dict[str, float]]:
    """Per fov, the statistics of each label under ``root`` (those of ``fov`` unless
    "both"), and per fov the mean seconds per label."""
    rows: Rows = {}
    seconds: dict[str, list[float]] = {}
    for path in sorted(label_dir(root).iterdir()):
        match = LEADING_ID.match(path.name)
        if not (match and path.suffix.lower() in IMAGE_SUFFIXES):
            continue
        subject_fov = fov_of(int(match.group(1)), fov)
        if subject_fov is None:
            sys.exit(f"{path}: id outside OCTA-500's ranges, pass --fov 6mm or --fov 3mm")
        if fov not in ("both", subject_fov):
            continue
        label = read_label(path)
        start = time.perf_counter()
        rows.setdefault(subject_fov, []).append(label_geometry(label, MM_PER_PX[subject_fov]))
        seconds.setdefault(subject_fov, []).append(time.perf_counter() - start)
    return rows, {name: sum(s) / len(s) for name, s in seconds.items()}


def cell(figures: tuple[float, float, float]) -> str:
    median, low, high = figures
    return f"{median:.4g} [{low:.4g}, {high:.4g}]"


def table(real: list[dict[str, float]], synthetic: list[dict[str, float]] | None) -> list[str]:
    """Rows of a markdown table: statistic, real figures, synthetic figures (if any)."""
    real_sum = summarize(real)
    synth_sum = summarize(synthetic) if synthetic else {}
    head = f"| statistic | real ({len(real)}) |"
    lines = [head + (f" synthetic ({len(synthetic)}) |" if synthetic else ""), "|---|---|"]
    lines[1] += "---|" if synthetic else ""
    for name, figures in real_sum.items():
        line = f"| {name} | {cell(figures)} |"
        if synthetic:
            median, (_, low, high) = synth_sum[name][0], figures
            flag = "" if low <= median <= high else " OUT"
            line += f" {cell(synth_sum[name])}{flag} |"
        lines.append(line)
    return lines


def rounded_band(low: float, high: float) -> str:
    """A band as code, rounded outwards to 2 significant digits of its width."""
    decimals = 1 - math.floor(math.log10(high - low)) if high > low else 3
    scale = 10.0**decimals
    low, high = math.floor(low * scale) / scale, math.ceil(high * scale) / scale
    return f"({low:.{max(decimals, 1)}f}, {high:.{max(decimals, 1)}f})"


def band_literal(real: Rows) -> list[str]:
    """The real [5th, 95th] bands as the lines of ``vessel_geometry._BANDS``: per statistic,
    its band in each fov measured."""
    fovs = [fov for fov in MM_PER_PX if fov in real]
    figures = {fov: summarize(real[fov]) for fov in fovs}
    lines = ["_BANDS = {  # statistic: " + ", ".join(f"{fov} band" for fov in fovs)]
    for name in figures[fovs[0]]:
        bands = ", ".join(rounded_band(*figures[fov][name][1:]) for fov in fovs)
        lines.append(f'    "{name}": ({bands}),')
    return [*lines, "}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True, help="real OCTA-500 copy")
    parser.add_argument("--fov", choices=["6mm", "3mm", "both"], default="both")
    parser.add_argument("--synthetic", type=Path, help="a synthetic dataset in the same layout")
    parser.add_argument("--bands", action="store_true", help="also print the real bands as code")
    args = parser.parse_args()
    real, real_s = measure(args.data_root, args.fov)
    synth, synth_s = measure(args.synthetic, args.fov) if args.synthetic else ({}, {})
    if not real:
        sys.exit(f"no label of {args.fov} under {label_dir(args.data_root)}")
    for fov in sorted(real, key=lambda name: name != "6mm"):
        print(f"\n## {fov} ({MM_PER_PX[fov] * 1000:.2f} um/px)\n")
        print("\n".join(table(real[fov], synth.get(fov))))
        timing = f"{real_s[fov]:.3f} s per real label"
        if fov in synth_s:
            timing += f", {synth_s[fov]:.3f} s per synthetic label"
        print(f"\n{timing}")
    if args.bands:
        print("", *band_literal(real), sep="\n")
    for fov in sorted(set(synth) - set(real)):
        print(f"\n{fov}: {len(synth[fov])} synthetic labels but no real {fov} label to compare with")


if __name__ == "__main__":
    main()
