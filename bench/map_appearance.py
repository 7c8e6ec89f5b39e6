"""Benchmark: appearance statistics of en-face maps, real OCTA-500 beside synthetic.

    python bench/map_appearance.py --data-root /data/OCTA-500 [--map "OCTA(ILM_OPL)"] [--fov both]
    python bench/map_appearance.py --data-root /data/OCTA-500 --synthetic /tmp/synth --synthetic-fov 6mm
    python bench/map_appearance.py --synthetic /tmp/synth   # against the stored bands only

For each field of view, :func:`octaseg.map_appearance.map_appearance` of every map found
under ``ROOT/OCTA_<fov>/Projection Maps/<map>/<id>.bmp`` (with its
``ROOT/Label/GT_LargeVessel/<id>.bmp`` where there is one), printed as the median and
[5th, 95th] percentile over maps. With ``--synthetic`` the same of a dataset in the same
layout (``octaseg synth`` writes official-style maps) in a column beside the real one;
a statistic whose synthetic median is outside the real [p5, p95] band is marked ``OUT``,
with how many synthetic maps fall outside it. Without ``--data-root`` the real band is
:data:`octaseg.map_appearance.REAL_APPEARANCE`. The data are only read.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:
    from octaseg.bands import summarize
    from octaseg.io import read_image, read_label
    from octaseg.layout import label_path, maps_dir
    from octaseg.map_appearance import REAL_APPEARANCE, map_appearance
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from octaseg.bands import summarize
    from octaseg.io import read_image, read_label
    from octaseg.layout import label_path, maps_dir
    from octaseg.map_appearance import REAL_APPEARANCE, map_appearance

FIELD_MM = {"6mm": 6.0, "3mm": 3.0}


def dataset_stats(root: Path, fov: str, folder: str) -> list[dict[str, float]]:
    """map_appearance of every ``<id>.bmp`` map of ``folder``, with its label if present."""
    files = sorted(p for p in (maps_dir(root, fov) / folder).glob("*.bmp") if p.stem.isdigit())
    if not files:
        raise SystemExit(f"no maps under {maps_dir(root, fov) / folder}")
    rows = []
    for path in files:
        image = read_image(path)
        lab = label_path(root, path.stem)
        label = read_label(lab, image.shape) if lab.is_file() else None
        rows.append(map_appearance(image, FIELD_MM[fov] / image.shape[1], label))
    return rows


def cell(median: float, p5: float, p95: float) -> str:
    return f"{median:.4g} [{p5:.4g}, {p95:.4g}]"


def table(real: dict[str, tuple[float, ...]], synth: list[dict[str, float]] | None) -> list[str]:
    """Markdown rows: statistic, real median [p5, p95] (or the stored band), synthetic."""
    head = "| statistic | real median [p5, p95] |" + (
        " synthetic median [p5, p95] | out of band |" if synth else ""
    )
    lines = [head, "|---|---|" + ("---|---|" if synth else "")]
    summary = summarize(synth) if synth else {}
    for name, fig in real.items():
        row = f"| {name} | {cell(*fig) if len(fig) == 3 else f'[{fig[0]:.4g}, {fig[1]:.4g}]'} |"
        if synth and name in summary:
            low, high = fig[-2:]
            values = [r[name] for r in synth if name in r and not np.isnan(r[name])]
            outside = sum(not low <= v <= high for v in values)
            mark = "OUT " if not low <= summary[name][0] <= high else ""
            row += f" {cell(*summary[name])} | {mark}{outside}/{len(values)} |"
        lines.append(row)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="an OCTA-500 copy (maps, labels)")
    parser.add_argument("--map", default="OCTA(ILM_OPL)", help="the projection-map folder")
    parser.add_argument("--fov", default="both", choices=["6mm", "3mm", "both"])
    parser.add_argument("--synthetic", type=Path, help="a synthetic dataset in the OCTA-500 layout")
    parser.add_argument("--synthetic-fov", default="6mm", choices=["6mm", "3mm"])
    args = parser.parse_args()
    if args.data_root is None and args.synthetic is None:
        parser.error("give --data-root, --synthetic or both")
    fovs = (
        [args.synthetic_fov]
        if args.data_root is None
        else ["6mm", "3mm"]
        if args.fov == "both"
        else [args.fov]
    )
    for fov in fovs:
        t0 = time.perf_counter()
        if args.data_root is not None:
            rows = dataset_stats(args.data_root, fov, args.map)
            real, source = summarize(rows), f"{len(rows)} real maps under {args.data_root}"
        else:
            real, source = dict(REAL_APPEARANCE[fov]), "the stored REAL_APPEARANCE bands"
        synth = None
        if args.synthetic is not None and fov == args.synthetic_fov:
            synth = dataset_stats(args.synthetic, fov, args.map)
            source += f"; {len(synth)} synthetic maps under {args.synthetic}"
        print(f"\n## {args.map} {fov}: {source} ({time.perf_counter() - t0:.1f} s)\n")
        print("\n".join(table(real, synth)), "\n")


if __name__ == "__main__":
    main()
