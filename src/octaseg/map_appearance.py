"""Appearance statistics of an 8-bit en-face map, for holding synthetic maps to real ones.

:func:`map_appearance` measures one map (H, W): its intensity histogram, its vessel-to-
background contrast under a large-vessel label, the share of its power in three spatial-
frequency bands (in cycles per mm, so 6mm and 3mm fields compare) and the slope of its
spectrum's roll-off, and how strongly whole rows (or columns) jump in brightness, the
mark eye motion leaves. :data:`REAL_APPEARANCE` holds the 5th-95th percentile band of each
statistic over real OCTA-500 ``OCTA(ILM_OPL)`` maps; :func:`out_of_band` names the ones a
map falls outside. ``bench/map_appearance.py`` prints real and synthetic figures side by side.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from octaseg import bands

#: Spatial-frequency bands (cycles per mm). The real ILM_OPL spectra fall steeply up to a
#: knee at 1.5-2 cyc/mm (the brightness field, the FAZ, the layout of the large vessels),
#: then decline gently (about f^-0.9) to 10-12 cyc/mm (vessel calibres 40-250 um and the
#: capillary mesh's spacing), then ever more steeply (f^-2 to f^-3) as the optics and the
#: 15 um pixels blur capillary segments and speckle. Power is counted up to 30 cyc/mm in
#: both fields, below the 6mm Nyquist frequency (33.3) and the 3mm one (50.7).
LOW_EDGE, HIGH_EDGE, MAX_FREQ = 2.0, 10.0, 30.0
#: The roll-off's log-log slope is fitted between these frequencies (cyc/mm).
SLOPE_RANGE = (10.0, 30.0)

#: (low, high): 5th-95th percentile of the per-subject values over the real OCTA-500
#: ``OCTA(ILM_OPL)`` train+val maps, 200 6mm (10001-10200) and 150 3mm (10301-10450) with
#: their GT_LargeVessel labels, rounded outward to about 3 figures (aggregates only), from
#: ``python bench/map_appearance.py --data-root /path/to/OCTA-500``.
REAL_APPEARANCE: dict[str, dict[str, bands.Band]] = bands.table(
    """
    statistic               6mm             3mm
    mean                    67      99      79      105
    std                     48.1    54.1    50.1    55.6
    p1                      5       19      6       16
    p50                     53      91      65      99
    p99                     255     255     255     255     # every real map saturates its top 1%
    zero_fraction           0.00005 0.0076  0.0001  0.0031
    saturated_fraction      0.0100  0.0117  0.0100  0.0108
    gray_levels             44      57      91      159     # 6mm: about 50 levels, steps of 5-6
    power_low               0.173   0.343   0.265   0.514
    power_mid               0.241   0.383   0.110   0.240
    power_high              0.352   0.504   0.366   0.513
    spectral_slope          -2.69   -2.07   -2.13   -1.34
    row_line_score          0.168   0.302   0.190   0.293
    column_line_score       0.145   0.273   0.186   0.269
    vessel_median           172     194     195     210
    background_median       50      87      63      95
    vessel_ratio            2.21    3.60    2.16    3.17
    vessel_contrast         0.378   0.566   0.368   0.521
    vessel_faded            0.0148  0.0883  0.0023  0.0337
    vessel_z_thin           1.61    2.11    1.83    2.26
    vessel_z_mid            2.39    3.63    2.30    3.04
    vessel_z_thick          2.57    3.82    2.24    3.24
    vessel_edge             0.600   0.710   0.700   0.794   # rim over axis, vessels 3 px and wider
    vessel_halo             0.121   0.274   0.164   0.304   # the ring outside the label, likewise
    vessel_grain_thin       0.260   0.332   0.223   0.282   # residual s.d. / level, 1-2 px labels
    vessel_grain_mid        0.133   0.192   0.135   0.193
    vessel_grain_thick      0.075   0.158   0.079   0.182
    """
)


def intensity_stats(image: np.ndarray) -> dict[str, float]:
    """Histogram figures of an 8-bit map (H, W): mean, std, percentiles, the fraction of
    pixels at 0 and at 255, and how many distinct gray levels it uses."""
    x = np.asarray(image)
    p1, p50, p99 = np.percentile(x, [1, 50, 99])
    return {
        "mean": float(x.mean(dtype=np.float64)),
        "std": float(x.std(dtype=np.float64)),
        "p1": float(p1),
        "p50": float(p50),
        "p99": float(p99),
        "zero_fraction": float(np.count_nonzero(x == 0) / x.size),
        "saturated_fraction": float(np.count_nonzero(x == 255) / x.size),
        "gray_levels": float(np.unique(x).size),
    }


def label_contrast(image: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Median intensity inside a vessel label (H, W) and outside it, their ratio (the
    background floored at one gray level) and Michelson contrast (v - b) / (v + b)."""
    mask = np.asarray(label) > 0
    if mask.shape != np.shape(image):
        raise ValueError(f"label {mask.shape} does not match image {np.shape(image)}")
    x = np.asarray(image, np.float64)
    vessel = float(np.median(x[mask])) if mask.any() else float("nan")
    background = float(np.median(x[~mask])) if not mask.all() else float("nan")
    total = vessel + background
    return {
        "vessel_median": vessel,
        "background_median": background,
        "vessel_ratio": vessel / max(background, 1.0),
        "vessel_contrast": (vessel - background) / total if total > 0 else 0.0,
    }


def faded_fraction(image: np.ndarray, label: np.ndarray) -> float:
    """How much of the labelled vessels fades into the background: the fraction of the
    label's (H, W) centre lines where the map (H, W), lightly smoothed (sigma 1 px), is
    darker than the 75th percentile of the background (the map more than 2 px away from
    the label). Real vessels' flow signal dims along their length; a model trained on
    evenly bright vessels breaks real ones where they dim."""
    mask = np.asarray(label) > 0
    return _faded_fraction(image, mask, skeletonize(mask))


def _centre_lines(label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A label (H, W) as bool, its centre lines (skeleton, bool) and its distance
    transform (float, px), each (H, W): what the statistics of labelled vessels share."""
    mask = np.asarray(label) > 0
    return mask, skeletonize(mask), ndimage.distance_transform_edt(mask)


def _faded_fraction(image: np.ndarray, mask: np.ndarray, centre: np.ndarray) -> float:
    """:func:`faded_fraction` of a bool label with its centre lines."""
    if not centre.any():
        return float("nan")
    background = np.asarray(image, np.float64)[~ndimage.binary_dilation(mask, iterations=2)]
    if background.size == 0:
        return float("nan")
    smooth = ndimage.gaussian_filter(np.asarray(image, np.float64), 1.0)
    return float(np.mean(smooth[centre] < np.percentile(background, 75)))


def power_spectrum(image: np.ndarray, mm_per_px: float) -> tuple[np.ndarray, np.ndarray]:
    """2D power spectrum of a map (H, W) -> (radial frequency in cyc/mm, power), both
    (H, W) in FFT order. The map's Hann-weighted mean is subtracted and the Hann window
    applied first, so the image edges and the mean leak no power."""
    x = np.asarray(image, np.float64)
    h, w = x.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    x = (x - (x * window).sum() / window.sum()) * window
    power = np.abs(np.fft.fft2(x)) ** 2
    freq = np.hypot(*np.meshgrid(np.fft.fftfreq(h, mm_per_px), np.fft.fftfreq(w, mm_per_px), indexing="ij"))
    return freq, power


def radial_average(freq: np.ndarray, power: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Power (H, W) averaged in rings of width ``step`` -> (mean frequency, mean power)
    per non-empty ring, each (rings,)."""
    ring = np.round(freq / step).astype(np.int64).ravel()
    count = np.bincount(ring)
    keep = count > 0
    mean_f = np.bincount(ring, freq.ravel())[keep] / count[keep]
    return mean_f, np.bincount(ring, power.ravel())[keep] / count[keep]


def spectrum_stats(image: np.ndarray, mm_per_px: float) -> dict[str, float]:
    """Fraction of the power below :data:`MAX_FREQ` in the low, mid and high band, and
    the log-log slope of the radially averaged spectrum over :data:`SLOPE_RANGE`. A flat
    map has no power: fractions 0, slope NaN."""
    freq, power = power_spectrum(image, mm_per_px)
    total = power[freq < MAX_FREQ].sum()
    if total <= 1e-9 * np.asarray(image, np.float64).size:  # rounding noise of a flat map
        return {"power_low": 0.0, "power_mid": 0.0, "power_high": 0.0, "spectral_slope": float("nan")}
    bands = {"low": (0.0, LOW_EDGE), "mid": (LOW_EDGE, HIGH_EDGE), "high": (HIGH_EDGE, MAX_FREQ)}
    stats = {
        f"power_{k}": float(power[(freq >= a) & (freq < b)].sum() / total) for k, (a, b) in bands.items()
    }
    f, p = radial_average(freq, power, 1.0 / (max(power.shape) * mm_per_px))
    fit = (f >= SLOPE_RANGE[0]) & (f <= SLOPE_RANGE[1]) & (p > 0)
    slope = np.polyfit(np.log10(f[fit]), np.log10(p[fit]), 1)[0] if fit.sum() >= 2 else float("nan")
    return {**stats, "spectral_slope": float(slope)}


def line_score(image: np.ndarray) -> float:
    """How strongly whole rows of a map (H, W) jump in brightness: the 99th percentile over
    adjacent rows of the step between their interquartile means, over the map's std.

    Eye motion between B-scans (the map's rows) leaves bright or dark lines and displaced
    bands of rows, each edge a step (which a running median would follow). The
    interquartile mean ignores vessels crossing a row; a median over rows would miss a few
    lines, the 99th percentile does not."""
    x = np.asarray(image, np.float64)
    std = x.std()
    if std == 0 or x.shape[0] < 2:
        return 0.0
    s = np.sort(x, axis=1)
    quarter = x.shape[1] // 4
    profile = s[:, quarter : x.shape[1] - quarter].mean(axis=1)
    return float(np.percentile(np.abs(np.diff(profile)), 99) / std)


#: Label widths (px) of the three vessel classes of :func:`width_brightness`: the
#: label's distance transform on its centre line, below 1.6 (lines 1-2 px wide), below
#: 2.3 (3-4 px) and above (5 px and more).
WIDTH_CLASSES = {"thin": (0.0, 1.6), "mid": (1.6, 2.3), "thick": (2.3, np.inf)}


def width_brightness(image: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """How bright the labelled vessels are by their drawn width: the median of the
    z-scored map (H, W) ((x - mean) / std) on the label's (H, W) centre lines, per
    :data:`WIDTH_CLASSES` (``vessel_z_thin``, ``vessel_z_mid``, ``vessel_z_thick``; NaN
    for a class the label lacks). Real maps show thin labelled vessels dimmer than wide
    ones, which all stand out of the background."""
    return _width_brightness(image, *_centre_lines(label))


def _width_brightness(
    image: np.ndarray, mask: np.ndarray, centre: np.ndarray, depth: np.ndarray
) -> dict[str, float]:
    """:func:`width_brightness` of a label's :func:`_centre_lines`."""
    x = np.asarray(image, np.float64)
    z = (x - x.mean()) / max(float(x.std()), 1e-9)
    stats = {}
    for name, (low, high) in WIDTH_CLASSES.items():
        on = centre & (depth >= low) & (depth < high)
        stats[f"vessel_z_{name}"] = float(np.median(z[on])) if on.any() else float("nan")
    return stats


#: Centre-line depth (px, the label's distance transform) from which :func:`edge_profile`
#: counts a vessel: labels 3 px wide and more, whose edge pixels are not centre pixels.
EDGE_MIN_DEPTH = 1.6


def edge_profile(image: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """How labelled vessels 3 px wide or more fade at their edges: the map's (H, W) level
    above the background (the median off the label (H, W)) on the label's inner edge
    (``vessel_edge``) and on the ring of pixels just outside it (``vessel_halo``), each
    as a share of that level on the vessels' centre lines (medians over the pixels whose
    nearest centre-line pixel lies :data:`EDGE_MIN_DEPTH` or deeper in the label; NaN
    without such vessels). A vessel drawn as a flat plateau with a hard rim gives an edge
    near 1 and no halo; real vessels are brightest along their axis and their signal
    spreads a pixel beyond what annotators draw."""
    return _edge_profile(image, *_centre_lines(label))


def _edge_profile(
    image: np.ndarray, mask: np.ndarray, centre: np.ndarray, depth: np.ndarray
) -> dict[str, float]:
    """:func:`edge_profile` of a label's :func:`_centre_lines`."""
    x = np.asarray(image, np.float64)
    wide_centre = centre & (depth >= EDGE_MIN_DEPTH)
    if not wide_centre.any() or mask.all():
        return {"vessel_edge": float("nan"), "vessel_halo": float("nan")}
    _, (rows, cols) = ndimage.distance_transform_edt(~centre, return_indices=True)
    near_wide = depth[rows, cols] >= EDGE_MIN_DEPTH
    inner = mask & ~ndimage.binary_erosion(mask) & near_wide
    outer = ndimage.binary_dilation(mask) & ~mask & near_wide
    background = float(np.median(x[~mask]))
    level = float(np.median(x[wide_centre])) - background
    if level <= 0 or not inner.any() or not outer.any():
        return {"vessel_edge": float("nan"), "vessel_halo": float("nan")}
    return {
        "vessel_edge": (float(np.median(x[inner])) - background) / level,
        "vessel_halo": (float(np.median(x[outer])) - background) / level,
    }


def vessel_grain(image: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """How grainy the labelled vessels are, by their drawn width: the s.d. of the map's
    (H, W) residual from its 3 x 3 median on the label's (H, W) centre lines, over their
    level above the background (median on them minus the median off the label), per
    :data:`WIDTH_CLASSES` (``vessel_grain_thin``, ``vessel_grain_mid``,
    ``vessel_grain_thick``; NaN for a class the label lacks). Real flow signal fluctuates
    from one A-scan to the next, so real vessels are as grainy as the mesh around them; a
    model trained on smooth vessels can learn that what is smooth is vessel."""
    return _vessel_grain(image, *_centre_lines(label))


def _vessel_grain(
    image: np.ndarray, mask: np.ndarray, centre: np.ndarray, depth: np.ndarray
) -> dict[str, float]:
    """:func:`vessel_grain` of a label's :func:`_centre_lines`."""
    x = np.asarray(image, np.float64)
    residual = x - ndimage.median_filter(x, size=3, mode="reflect")
    background = float(np.median(x[~mask])) if not mask.all() else float("nan")
    stats = {}
    for name, (low, high) in WIDTH_CLASSES.items():
        on = centre & (depth >= low) & (depth < high)
        level = float(np.median(x[on])) - background if on.any() else float("nan")
        grain = float(np.std(residual[on])) / level if level > 0 else float("nan")
        stats[f"vessel_grain_{name}"] = grain
    return stats


def map_appearance(image: np.ndarray, mm_per_px: float, label: np.ndarray | None = None) -> dict[str, float]:
    """All appearance statistics of one 8-bit en-face map (H, W) with square pixels of
    ``mm_per_px``; with a vessel label (H, W) also the vessel-to-background contrast.
    ``column_line_score`` is ``row_line_score`` of the transposed map: the same measure
    across the eye-motion lines, a baseline for what vessels and noise alone give."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected an en-face map (H, W), got shape {image.shape}")
    stats = {**intensity_stats(image), **spectrum_stats(image, mm_per_px)}
    stats["row_line_score"] = line_score(image)
    stats["column_line_score"] = line_score(image.T)
    if label is not None:
        stats.update(label_contrast(image, label))
        lines = _centre_lines(label)  # skeletonized and distance-transformed once
        stats["vessel_faded"] = _faded_fraction(image, *lines[:2])
        stats.update(_width_brightness(image, *lines))
        stats.update(_edge_profile(image, *lines))
        stats.update(_vessel_grain(image, *lines))
    return stats


def out_of_band(stats: Mapping[str, float], fov: str) -> dict[str, float]:
    """The statistics of one map outside the real band of its field of view ("6mm" or
    "3mm"), with their values."""
    if fov not in REAL_APPEARANCE:
        raise ValueError(f"no real bands for {fov!r}; expected one of {sorted(REAL_APPEARANCE)}")
    return bands.out_of_band(stats, REAL_APPEARANCE[fov])
