"""Stage 3, en-face maps: the capillary plexuses, warped Voronoi networks, and the FAZ
they surround (see :func:`capillary_plexus`)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from octaseg.synth.anatomy import Anatomy
from octaseg.synth.noise import smooth_noise
from octaseg.synth.params import SynthParams


def capillary_plexus(
    rng: np.random.Generator,
    shape: tuple[int, int],
    px_per_mm: float,
    spacing_mm: float,
    p: SynthParams,
) -> np.ndarray:
    """A capillary mesh: the edges of a warped Voronoi tessellation, float32 (shape), about
    1 on its segments and 0 between them.

    Cells about ``spacing_mm`` across (seeds on a grid, each jittered anywhere in its
    cell) are found on a canvas of ``capillary_canvas_um`` pixels, looked up through a
    smooth displacement (``capillary_warp`` x the spacing) so that segments curve, and
    their boundaries drawn one canvas pixel wide: a polygonal network of thin segments
    meeting at junctions, as a capillary bed is (the zero set of band-pass noise gave
    closed curves without junctions, which blurred into mottle at 3 mm). Each cell's
    boundary pixels take a brightness drawn per cell (log s.d. ``capillary_segment_sd``).
    The canvas is area-averaged to the map's pixels and blurred by ``capillary_blur_px``
    (times the pixel's :meth:`~SynthParams.pixel_scale` to ``capillary_blur_power``),
    and capped at 1.5.
    """
    # coarse renderings (small test subjects) keep cells of 3 px and 4 canvas px a pixel,
    # as the full-size ones have (6mm: 4.7 px, 3 canvas px; 3mm: 7 px, 2)
    ss = int(np.clip(round(1000.0 / px_per_mm / p.capillary_canvas_um), 1, 4))
    h, w = shape[0] * ss, shape[1] * ss
    step = max(spacing_mm * px_per_mm, 3.0) * ss  # cell spacing, canvas px
    gy, gx = np.mgrid[0:h:step, 0:w:step]
    n = gy.size
    sy = np.clip(gy.ravel() + rng.uniform(-0.5, 0.5, n) * step, 0, h - 1).astype(np.int64)
    sx = np.clip(gx.ravel() + rng.uniform(-0.5, 0.5, n) * step, 0, w - 1).astype(np.int64)
    not_seed = np.ones((h, w), bool)
    not_seed[sy, sx] = False
    _, (iy, ix) = ndimage.distance_transform_edt(not_seed, return_indices=True)
    cell = (iy * w + ix).astype(np.float32)  # exact in float32 up to 2**24 canvas pixels
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    amount = p.capillary_warp * step
    xx += smooth_noise(rng, (h, w), step) * amount
    yy += smooth_noise(rng, (h, w), step) * amount
    cell = cv2.remap(cell, xx, yy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    edge = np.zeros((h, w), bool)
    edge[:, 1:] |= cell[:, 1:] != cell[:, :-1]
    edge[1:, :] |= cell[1:, :] != cell[:-1, :]
    seed_bright = np.exp(p.capillary_segment_sd * rng.standard_normal(n)).astype(np.float32)
    lookup = np.zeros(h * w, np.float32)
    lookup[sy * w + sx] = seed_bright
    canvas = np.where(edge, lookup[cell.astype(np.int64)], 0.0).astype(np.float32)
    mesh = cv2.resize(canvas, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) * ss
    blur = p.capillary_blur_px * p.pixel_scale(px_per_mm) ** p.capillary_blur_power
    if blur > 0.3:
        mesh = cv2.GaussianBlur(mesh, (0, 0), blur, borderType=cv2.BORDER_REFLECT)
    return np.minimum(mesh, 1.5)  # where segments meet or a bright cell's run along one


def capillary_plexuses(
    rng: np.random.Generator, anat: Anatomy, p: SynthParams, vessel: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The FAZ and the three capillary plexuses, from the vessel coverage (scans, width).

    No capillaries inside the FAZ's irregular boundary, sparser ones just outside, none
    under the vessels. Returns the bool FAZ mask and the float32 superficial,
    intermediate and deep meshes in [0, 1], each (scans, width) in the tissue frame.
    """
    shape = (anat.scans, anat.width)
    yy, xx = np.mgrid[0 : anat.scans, 0 : anat.width].astype(np.float64)
    xs, ys = (xx + 0.5) / anat.px_per_mm, (yy + 0.5) / anat.px_per_mm
    dist = anat.faz_distance(xs, ys)
    ramp = np.clip(dist / 0.03 + 0.5, 0.0, 1.0) * np.clip(0.5 + dist / p.parafovea_mm, 0.0, 1.0)
    free = ramp.astype(np.float32) * (1.0 - vessel)
    spacings = p.capillary_spacing_mm * np.array([1.0, 0.9, 1.1])  # superficial, intermediate, deep
    svp, icp, dcp = (capillary_plexus(rng, shape, anat.px_per_mm, s, p) * free for s in spacings)
    # the terminal capillaries that ring the FAZ: a line along its edge, segment by segment
    ring_px = (dist * anat.px_per_mm - 0.5).astype(np.float32)
    ring = np.exp(-0.5 * (ring_px / 0.6) ** 2) * (1.0 - vessel)
    ring *= np.exp(p.capillary_segment_sd * smooth_noise(rng, shape, 0.03 * anat.px_per_mm))
    svp = np.maximum(svp, p.faz_ring * ring)
    return dist < 0.0, svp, icp, dcp
