"""How close a dataset is to real OCTA-500: the statistics the synthetic generator is held to.

Reference figures for OCTA-500 6mm (``../shared/CONTEXT.md``): OCTA B-scans have a mean
of about 1.9, a maximum of about 85, a 99th percentile of about 29, about 81% of voxels
exactly 0 and about 28% of depth rows carrying flow signal; large-vessel labels cover
about 9% of pixels (6-13%; 3mm labels 5-8%) with vessels up to about 8 px wide; and a Frangi-vesselness +
Otsu baseline on the mean projection scores Dice about 0.76.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import frangi, threshold_otsu
from skimage.morphology import skeletonize

from octaseg import bands, metrics

#: (low, high) bands a realistic 6mm or 3mm subject falls in, for the report and the tests.
TARGETS: dict[str, tuple[float, float]] = {
    "octa_mean": (1.5, 2.3),
    "octa_max": (70, 95),
    "octa_p99": (22, 36),
    "zero_fraction": (0.76, 0.86),
    "signal_rows_fraction": (0.22, 0.34),
    "label_fraction": (0.05, 0.13),  # real 5th-95th: 6mm 0.069-0.118, 3mm 0.051-0.079
    "mean_width_px": (2.0, 4.5),
    "max_width_px": (5.0, 10.0),
    # real OCTA-500: 0.76 on one subject's mean projection, 0.47-0.80 on official maps
    # (../shared/CONTEXT.md); on the 350 train and validation OCTA(ILM_OPL) maps 0.58-0.85
    "frangi_dice": (0.47, 0.85),
}


def signal_rows_fraction(octa: np.ndarray) -> float:
    """Fraction of depth rows of a volume (scan, depth, x) whose mean exceeds 10% of the
    brightest row's mean: how much of the B-scan the retina's flow signal occupies."""
    rows = octa.mean(axis=(0, 2), dtype=np.float64)
    return float((rows > 0.1 * rows.max()).mean()) if rows.max() > 0 else 0.0


def volume_stats(octa: np.ndarray) -> dict[str, float]:
    """Intensity statistics of a uint8 OCTA volume (scan, depth, x)."""
    return {
        "octa_mean": float(octa.mean(dtype=np.float64)),
        "octa_max": float(octa.max()),
        "octa_p99": float(np.percentile(octa[:, ::4, :], 99)),  # every 4th row: same figure, 4x faster
        "zero_fraction": float(np.count_nonzero(octa == 0) / octa.size),
        "signal_rows_fraction": signal_rows_fraction(octa),
    }


def label_stats(label: np.ndarray) -> dict[str, float]:
    """Coverage and calibre of a large-vessel label (H, W).

    ``mean_width_px`` is the label's area over its skeleton's length (the average calibre,
    dominated by the many thin branches); ``max_width_px`` is the widest vessel, twice the
    largest inscribed radius less one. The real examples measure 2.6 and 7.5 px (6mm),
    2.9 and 7.3 px (3mm): most labelled branches are 2-3 px wide, the trunks up to ~8 px.
    """
    mask = np.asarray(label) > 0
    skeleton = skeletonize(mask)
    length = int(np.count_nonzero(skeleton))
    # pad with background: a vessel cut by the image border is not twice as wide
    radius = float(ndimage.distance_transform_edt(np.pad(mask, 1)).max()) if mask.any() else 0.0
    return {
        "label_fraction": float(np.count_nonzero(mask) / mask.size),
        "mean_width_px": float(np.count_nonzero(mask) / length) if length else 0.0,
        "max_width_px": max(0.0, 2 * radius - 1),
    }


def frangi_otsu(image: np.ndarray, sigmas: tuple[float, ...] = (2, 4, 6)) -> np.ndarray:
    """The classical baseline: Frangi vesselness (bright ridges) of an en-face image (H, W),
    thresholded by Otsu's method -> bool mask (H, W)."""
    vesselness = frangi(np.asarray(image, np.float64), sigmas=sigmas, black_ridges=False)
    if not np.any(vesselness > vesselness.min()):
        return np.zeros(image.shape, bool)
    return vesselness > threshold_otsu(vesselness)


def frangi_dice(projection: np.ndarray, label: np.ndarray) -> float:
    """Dice of the Frangi + Otsu baseline on a projection against its label (same frame)."""
    return metrics.dice(metrics.confusion(frangi_otsu(projection), label > 0))


def subject_stats(octa: np.ndarray, label: np.ndarray, projection: np.ndarray) -> dict[str, float]:
    """All realism statistics of one subject: volume (scan, depth, x), label and mean
    projection, both (H, W) in the label frame."""
    return {**volume_stats(octa), **label_stats(label), "frangi_dice": frangi_dice(projection, label)}


def out_of_band(stats: dict[str, float]) -> dict[str, float]:
    """The statistics that fall outside :data:`TARGETS`."""
    return bands.out_of_band(stats, TARGETS)


def summarize_stats(rows: list[dict[str, float]]) -> str:
    """A readable report of per-subject statistics: each subject, then mean/min/max per
    statistic beside its target band, with the statistics out of band marked."""
    import pandas as pd

    table = pd.DataFrame(rows).set_index("subject")
    lines = ["per subject:", table.to_string(float_format=lambda v: f"{v:.3f}"), "", "summary:"]
    header = f"{'statistic':<22}{'mean':>9}{'min':>9}{'max':>9}   target"
    lines.append(header)
    for name in table.columns:
        col = table[name]
        band = TARGETS.get(name)
        target = f"{band[0]:g} - {band[1]:g}" if band else ""
        flag = "" if band is None or (col.between(*band)).all() else "   OUT OF BAND"
        lines.append(f"{name:<22}{col.mean():9.3f}{col.min():9.3f}{col.max():9.3f}   {target}{flag}")
    return "\n".join(lines)
