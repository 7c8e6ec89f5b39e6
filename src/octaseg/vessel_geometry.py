"""Geometry of a vessel label: calibre, branch lengths, tortuosity, branching angles and
where the vessels end relative to the fovea, to hold synthetic vessel trees to the real
ones' bands (:data:`REAL_GEOMETRY`).

The label's skeleton is cut into branches at its junctions (skeleton pixels with 3 or more
skeleton neighbours, 8-connectivity; touching ones form one junction, at their centroid)
and its ends (1 neighbour). Spurs, branches with a free end shorter than ``MIN_SPUR_PX``,
are skeleton noise: they are removed (repeatedly) before any statistic is taken.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from octaseg import bands

MIN_SPUR_PX = 3.0  # shorter branches with a free end are skeleton noise
TORTUOSITY_MIN_PX = 10.0  # branches measured for tortuosity
ANGLE_REACH_PX = (5, 12)  # a branch's direction at a junction: along its pixels 5 to 12
LENGTH_STEP_PX = 3  # a branch's length: polyline through every 3rd pixel (see _path_length)
BORDER_PX = 4  # skeleton ends this close to the border are cut by the field, not vessel ends
FAZ_WINDOW = 0.4  # the fovea's centre is looked for in the central 40% of the field

_OFFSETS = np.array([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc])

#: (low, high) = 5th-95th percentile of the per-subject statistics of real OCTA-500
#: large-vessel labels (GT_LargeVessel), computed by
#: ``python bench/label_geometry.py --data-root /path/to/OCTA-500 --bands`` on the 200 6mm
#: (10001-10200) and 150 3mm (10301-10450) training + validation labels (aggregates only,
#: no pixels), rounded outwards to 2 significant digits of each band's width.
REAL_GEOMETRY: dict[str, dict[str, bands.Band]] = bands.table(
    """
    statistic                       6mm             3mm
    label_fraction                  0.069   0.118   0.051   0.079
    width_um_median                 30.0    43.0    19.7    28.0
    width_um_mean                   32.0    44.0    21.8    27.2
    width_um_p90                    54.0    76.0    29.0    45.0
    width_1px_fraction              0.13    0.28    0.13    0.25
    width_3px_fraction              0.16    0.27    0.19    0.32
    width_5px_fraction              0.00    0.13    0.003   0.092
    branch_length_mm_median         0.32    0.49    0.20    0.37
    branch_length_mm_mean           0.39    0.60    0.28    0.47
    tortuosity_median               1.021   1.036   1.019   1.039
    branch_angle_deg_median         59.0    75.0    56.0    81.0
    end_faz_distance_mm_median      1.17    1.81    0.42    0.72
    faz_radius_mm                   0.46    0.75    0.38    0.61
    junctions_per_mm2               1.4     3.5     1.5     4.3
    ends_per_mm2                    1.2     3.0     2.8     5.1
    """
)


@dataclass
class Branch:
    """A skeleton branch: ordered points (n, 2) as (row, col) in px, from its start to its
    end (a junction's centroid where it meets one), and the junction ids at both ends
    (-1: a free end)."""

    points: np.ndarray
    start: int
    end: int
    length: float


def _path_length(points: np.ndarray, step: int = LENGTH_STEP_PX) -> float:
    """Length in px of an ordered path (n, 2): the polyline through every ``step``-th point
    and the last, which keeps the staircase of a digital line at a slant from counting
    (8-connected steps overestimate a 22.5 degree line by 8%, this by under 1%)."""
    keep = list(range(0, len(points), step))
    keep += [len(points) - 1] if keep[-1] != len(points) - 1 else []
    steps = np.diff(points[keep], axis=0)
    return float(np.hypot(steps[:, 0], steps[:, 1]).sum())


def _neighbours(pixels: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Values (n, 8) of ``image`` (H, W), padded with 0 or -1, at the 8 neighbours of each
    of ``pixels`` (n, 2) (row, col), which lie at least 1 px inside the border."""
    rows, cols = pixels[:, :1] + _OFFSETS[:, 0], pixels[:, 1:] + _OFFSETS[:, 1]
    return image[rows, cols]


def _walk(first: int, nbr: list[list[int]]) -> list[int]:
    """Pixel indices of one skeleton segment in order along it, from ``first``; ``nbr``
    lists each pixel's neighbours in its segment (at most 2, -1: none)."""
    path, prev, cur = [first], -1, first
    while True:
        nxt = [q for q in nbr[cur] if q >= 0 and q != prev and q != first]
        if not nxt:
            return path
        prev, cur = cur, nxt[0]
        path.append(cur)


def _junctions(pad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Junction ids (H, W) of a skeleton (H, W) bool padded by 1 px (0: none, else 1 + the
    index of its cluster of touching junction pixels) and the clusters' centroids (J, 2)
    in the unpadded frame."""
    count = ndimage.convolve(pad.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    jlab, nj = ndimage.label(pad & (count >= 3), np.ones((3, 3)))
    rows, cols = np.nonzero(jlab)
    size = np.maximum(np.bincount(jlab[rows, cols], minlength=nj + 1)[1:], 1)
    sums = [np.bincount(jlab[rows, cols], weights=x, minlength=nj + 1)[1:] for x in (rows, cols)]
    return jlab, np.stack(sums, axis=1).reshape(-1, 2) / size[:, None] - 1


def skeleton_branches(skel: np.ndarray) -> tuple[list[Branch], np.ndarray]:
    """The branches of a skeleton (H, W) bool and the centroids (J, 2) of its junctions
    (row, col in px); a branch's start/end index the centroids."""
    pad = np.pad(skel.astype(bool), 1)
    jlab, centroids = _junctions(pad)
    seg = pad & (jlab == 0)
    pixels = np.argwhere(seg)
    index = np.full(pad.shape, -1)
    index[seg] = np.arange(len(pixels))
    nbr_array = np.sort(_neighbours(pixels, index), axis=1)[:, -2:]
    nbr, degree = nbr_array.tolist(), (nbr_array >= 0).sum(axis=1)
    nbr_jun = (_neighbours(pixels, jlab) - 1).tolist()  # junction ids, -1: none
    seg_lab = ndimage.label(seg, np.ones((3, 3)))[0][seg]
    order = np.argsort(seg_lab, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(seg_lab[order])) + 1) if len(order) else []
    branches = []
    for group in groups:
        ends = group[degree[group] <= 1]
        path = _walk(int(ends[0]) if len(ends) else int(group[0]), nbr)
        touch = [sorted({j for j in nbr_jun[p] if j >= 0}) for p in (path[0], path[-1])]
        if len(path) == 1:  # one pixel between two junctions, or a spur off one
            touch = [touch[0][:1], touch[0][1:2]]
        start, end = (t[0] if t else -1 for t in touch)
        loop = not len(ends) and start < 0  # a closed loop: back to its first pixel
        head = [centroids[start]] if start >= 0 else []
        tail = [centroids[end]] if end >= 0 else [pixels[path[0]] - 1.0] if loop else []
        pts = np.array([*head, *(pixels[path] - 1.0), *tail])
        branches.append(Branch(pts, start, end, _path_length(pts)))
    return branches, centroids


def prune_spurs(skel: np.ndarray, min_px: float = MIN_SPUR_PX) -> tuple[np.ndarray, list[Branch], np.ndarray]:
    """The skeleton (H, W) bool without spurs, branches with a free end shorter than
    ``min_px`` (isolated specks included), removed until none is left; and its branches
    and junction centroids (J, 2) (:func:`skeleton_branches`)."""
    skel = skel.astype(bool).copy()
    while True:
        branches, centroids = skeleton_branches(skel)
        spurs = [b for b in branches if (b.start < 0 or b.end < 0) and b.length < min_px]
        if not spurs:
            return skel, branches, centroids
        for b in spurs:
            inner = b.points[(1 if b.start >= 0 else 0) : len(b.points) - (1 if b.end >= 0 else 0)]
            skel[inner[:, 0].astype(int), inner[:, 1].astype(int)] = False
        skel = skeletonize(skel)  # thin what a spur's junction leaves: a bump would split a branch


def _direction(points: np.ndarray) -> np.ndarray:
    """Unit direction (2,) of a branch leaving its first point, from its ordered points
    (n, 2): the principal axis of its points ``ANGLE_REACH_PX`` along (the junction's own
    pixels, bent where the vessels merge, left out), pointing away from the junction."""
    near = min(ANGLE_REACH_PX[0], len(points) - 2)
    part = points[near : ANGLE_REACH_PX[1] + 1]
    axis = np.linalg.svd(part - part.mean(axis=0), full_matrices=False)[2][0]
    return axis if axis @ (part[-1] - part[0]) >= 0 else -axis


def junction_angles(branches: list[Branch], centroids: np.ndarray) -> np.ndarray:
    """Per junction of 3 or more branches, the smallest angle in degrees between the
    directions its branches leave it in (:func:`_direction`): at a fork, the angle
    between the two daughters."""
    leaving: list[list[np.ndarray]] = [[] for _ in centroids]
    for b in branches:
        for j, pts in ((b.start, b.points), (b.end, b.points[::-1])):
            if j >= 0:
                leaving[j].append(_direction(pts))
    angles = []
    for dirs in leaving:
        if len(dirs) < 3:
            continue
        unit = np.array(dirs) / np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-9)
        cos = np.clip(unit @ unit.T, -1.0, 1.0)[np.triu_indices(len(dirs), 1)]
        angles.append(np.degrees(np.arccos(cos.max())))
    return np.array(angles)


def vessel_widths(mask: np.ndarray, skel: np.ndarray) -> np.ndarray:
    """Vessel width in px (n,) at each pixel of ``skel`` (H, W) bool in ``mask`` (H, W) bool:
    twice the distance to the background (padded: the border ends no vessel) on the label
    upsampled 2x, max over the pixel's 2 x 2 block: exact for a straight vessel of any whole
    width (at full resolution 1 and 2 px vessels would both read 2 px, a 3 px one 4 px)."""
    up = np.pad(mask, 1).repeat(2, axis=0).repeat(2, axis=1)
    half = ndimage.distance_transform_edt(up)[2:-2, 2:-2]  # in half pixels
    block = half.reshape(mask.shape[0], 2, mask.shape[1], 2).max(axis=(1, 3))
    return block[skel]


#: label width classes in px (annotators draw in pixels): the share of the centre lines'
#: pixels whose label is 1 px wide, 3 px, and 5 px or wider
WIDTH_CLASS_PX = {
    "width_1px_fraction": (0.5, 1.5),
    "width_3px_fraction": (2.5, 3.5),
    "width_5px_fraction": (4.5, np.inf),
}


def width_classes(widths: np.ndarray) -> dict[str, float]:
    """The share of ``widths`` (n,) in px in each class of :data:`WIDTH_CLASS_PX` (NaN when
    n is 0)."""
    return {
        name: float(np.mean((widths >= lo) & (widths < hi))) if len(widths) else float("nan")
        for name, (lo, hi) in WIDTH_CLASS_PX.items()
    }


def fovea(label: np.ndarray) -> tuple[np.ndarray, float]:
    """The fovea's avascular zone, estimated from a label (H, W) bool: the largest
    vessel-free disc centred in the central ``FAZ_WINDOW`` of the field -> centre (2,)
    (row, col) and radius, in px (the distance to the nearest vessel pixel)."""
    if not label.any():
        return np.full(2, np.nan), float("nan")
    free = ndimage.distance_transform_edt(~label)
    (h, w), f = label.shape, (1 - FAZ_WINDOW) / 2
    r0, c0 = round(f * h), round(f * w)
    window = free[r0 : h - r0, c0 : w - c0]
    r, c = np.unravel_index(np.argmax(window), window.shape)
    return np.array([r + r0, c + c0], float), float(window[r, c])


def _stat(values: np.ndarray, fn=np.median) -> float:
    """``fn`` of ``values`` (n,) as a float; NaN when n is 0."""
    return float(fn(values)) if len(values) else float("nan")


def label_geometry(label: np.ndarray, mm_per_px: float) -> dict[str, float]:
    """Geometry statistics of one binary vessel label (H, W) whose pixels are
    ``mm_per_px`` wide (OCTA-500: 0.015 for 6mm, 3 / 304 for 3mm).

    Widths are taken at the skeleton's pixels (:func:`vessel_widths`). A label without
    vessels (or without branches, junctions, ends) gives NaN for the statistics of what
    it lacks and 0 for its counts.
    """
    mask = np.asarray(label) > 0
    um = 1000.0 * mm_per_px
    skel, branches, centroids = prune_spurs(skeletonize(mask))
    lengths = np.array([b.length for b in branches])
    chords = np.array([np.linalg.norm(b.points[-1] - b.points[0]) for b in branches])
    tortuous = (lengths >= TORTUOSITY_MIN_PX) & (chords >= 1.0) if branches else np.zeros(0, bool)
    widths = vessel_widths(mask, skel)
    angles = junction_angles(branches, centroids)
    count = ndimage.convolve(skel.astype(np.uint8), np.ones((3, 3), np.uint8), mode="constant") - 1
    ends = np.argwhere(skel & (count == 1))
    h, w = mask.shape
    inside = np.all((ends >= BORDER_PX) & (ends < np.array([h, w]) - BORDER_PX), axis=1)
    centre, radius = fovea(mask)
    end_distance = np.linalg.norm(ends[inside] - centre, axis=1) - radius
    area = h * w * mm_per_px**2
    return {
        "label_fraction": float(mask.mean()),
        "width_um_median": _stat(widths) * um,
        "width_um_mean": _stat(widths, np.mean) * um,
        "width_um_p90": _stat(widths, lambda v: np.percentile(v, 90)) * um,
        **width_classes(widths),
        "branch_length_mm_median": _stat(lengths) * mm_per_px,
        "branch_length_mm_mean": _stat(lengths, np.mean) * mm_per_px,
        "tortuosity_median": _stat(lengths[tortuous] / chords[tortuous]),
        "branch_angle_deg_median": _stat(angles),
        "end_faz_distance_mm_median": _stat(end_distance) * mm_per_px,
        "faz_radius_mm": radius * mm_per_px,
        "junctions_per_mm2": len(angles) / area,
        "ends_per_mm2": int(inside.sum()) / area,
    }


def out_of_band(stats: dict[str, float], fov: str) -> dict[str, float]:
    """The statistics outside the real band of ``fov`` ("6mm" or "3mm") in
    :data:`REAL_GEOMETRY`; a NaN is out of band."""
    return bands.out_of_band(stats, REAL_GEOMETRY[fov])
