"""Stage 4, OCTA volume: the retinal surfaces and the flow signal in slabs between them."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from octaseg.synth.anatomy import Anatomy
from octaseg.synth.en_face import EnFace, Motion
from octaseg.synth.noise import smooth_noise
from octaseg.synth.params import _AXIAL_UM_PER_ROW, _REF_DEPTH, SynthParams


@dataclass(frozen=True)
class Surfaces:
    """Depth rows of the retina's surfaces, float32 (scans, width) each, top to bottom:
    the ILM, the bottom of the nerve fibre layer, the top of the outer plexiform layer and
    Bruch's membrane (BM)."""

    ilm: np.ndarray
    nfl: np.ndarray
    opl: np.ndarray
    bm: np.ndarray

    def warp(self, motion: Motion) -> Surfaces:
        """The surfaces as the B-scans see them (see :class:`Motion`)."""
        return Surfaces(*(motion.warp(s) for s in (self.ilm, self.nfl, self.opl, self.bm)))

    def octa500(self) -> dict[str, np.ndarray]:
        """OCTA-500's six surfaces (:data:`octaseg.layers.SURFACES`), where the OCT layer
        template (:func:`_oct_template`) puts them: the ILM; the lower boundaries of the
        inner plexiform layer (layer coordinate 1.58) and of the outer plexiform layer
        (2.1); the inner/outer segment junction (2.66); the top of the RPE (2.85); BM."""
        inner = self.opl - self.nfl
        outer = self.bm - self.opl
        f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
        return {
            "ILM": f32(self.ilm),
            "IPL": f32(self.nfl + 0.58 * inner),
            "OPL": f32(self.opl + 0.10 * outer),
            "ISOS": f32(self.opl + 0.66 * outer),
            "RPE": f32(self.opl + 0.85 * outer),
            "BM": f32(self.bm),
        }


def retina_surfaces(rng: np.random.Generator, anat: Anatomy, depth: int, p: SynthParams) -> Surfaces:
    """The retina's surfaces (see :class:`Surfaces`) in the tissue frame.

    The BM is a tilted, slightly bowed, gently undulating surface; the retina above it is
    ``thickness_rows`` thick with smooth variation and a foveal pit, where the inner
    layers thin out and the outer nuclear layer thickens. The nerve fibre layer thickens
    away from the fovea, most towards the disc. Rows scale with ``depth / 640``.
    """
    k = depth / _REF_DEPTH
    shape = (anat.scans, anat.width)
    yy, xx = np.mgrid[0 : anat.scans, 0 : anat.width].astype(np.float32)
    u = (xx + 0.5) / anat.width - 0.5  # -0.5 .. 0.5 across the field
    v = (yy + 0.5) / anat.scans - 0.5
    tilt = np.clip(rng.normal(0.0, p.tilt_rows, 2), -1.6 * p.tilt_rows, 1.6 * p.tilt_rows)
    bow = rng.uniform(0.0, 16.0)
    undulate = 3.0 * smooth_noise(rng, shape, 0.15 * anat.width)
    shape_rows = tilt[0] * u + tilt[1] * v - bow * (u * u + v * v) + undulate
    shape_rows -= shape_rows.mean()

    dx = (xx + 0.5) / anat.px_per_mm - anat.fovea[0]
    r2 = dx**2 + ((yy + 0.5) / anat.px_per_mm - anat.fovea[1]) ** 2
    pit_width = rng.uniform(0.45, 0.65)  # mm
    pit = rng.uniform(*p.pit_rows) * np.exp(-r2 / pit_width**2)
    thick0 = rng.uniform(*p.thickness_rows)
    thickness = thick0 + 5.0 * smooth_noise(rng, shape, 0.2 * anat.width) - pit
    bm = p.ilm_row + thick0 + shape_rows
    ilm = bm - thickness
    outer = np.minimum(rng.uniform(*p.outer_rows) + 0.4 * pit, thickness - 8.0)
    opl = bm - outer
    lo, hi = p.nfl_fraction
    nfl_frac = lo + (hi - lo) * (1.0 - np.exp(-r2 / 0.8**2))
    nfl_frac *= 1.0 + 0.3 * np.clip(dx * anat.disc_side / 3.0, -1.0, 1.0)  # thicker nasally
    nfl = ilm + (opl - ilm) * nfl_frac
    f32 = lambda a: (k * a).astype(np.float32)  # noqa: E731
    return Surfaces(ilm=f32(ilm), nfl=f32(nfl), opl=f32(opl), bm=f32(bm))


@dataclass(frozen=True)
class _Slab:
    """Flow signal of one layer: ``amp * profile(row)`` per en-face pixel.

    kind "tent": profile ``clip(flat * (1 - |row - pos| / half), 0, 1)``;
    kind "decay": profile ``1 - (row - pos) / half`` for ``pos <= row < pos + half``.
    ``half`` is a scalar or a (scans, width) map, in rows.
    """

    amp: np.ndarray
    pos: np.ndarray
    half: np.ndarray | float
    kind: str = "tent"
    flat: float = 1.0

    def rows(self, depth: int) -> tuple[int, int]:
        """Half-open range of depth rows where the profile can be non-zero."""
        half = np.asarray(self.half)
        if self.kind == "tent":
            lo, hi = self.pos - half, self.pos + half
        else:
            lo, hi = self.pos, self.pos + half
        return max(0, int(np.floor(lo.min()))), min(depth, int(np.ceil(hi.max())) + 1)


_MIN_HALF = 0.8  # rows: a thinner profile could fall between rows


def _vessel_depth(ef: EnFace, ilm: np.ndarray, depth: int, p: SynthParams) -> tuple[np.ndarray, np.ndarray]:
    """Centre row and axial half-extent (rows) of the large vessels, float32 (scans, width):
    in the nerve fibre / ganglion cell layers, as deep as they are wide."""
    k = depth / _REF_DEPTH
    vr = ef.vessel_radius_um * (p.vessel_axial_factor / _AXIAL_UM_PER_ROW)
    vr = np.maximum(vr, p.vessel_min_half_rows) * k
    vr = np.maximum(vr, _MIN_HALF)
    vr = np.where(ef.vessel > 0, vr, _MIN_HALF).astype(np.float32)
    return (ilm + 2.0 * k + vr).astype(np.float32), vr


def _spread_vessels(
    amp: np.ndarray, pos: np.ndarray, half: np.ndarray, inside: np.ndarray, sigma_px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vessels' flow signal spread sideways by a Gaussian of ``sigma_px``: brightest
    on the axis, fading over the rim and a pixel beyond it, as the device's lateral
    resolution and the maps' resampling show them. amp, pos, half float32 (scans, width):
    amplitude, centre row and half-extent of the vessel slab; inside bool (scans, width),
    where a vessel lies. Outside it a spread signal takes the depth of the nearest vessel
    pixel (grey dilation), so the projection sees it as thick as the vessel it comes from.
    Returns the three arrays, unchanged when sigma_px is 0."""
    if sigma_px <= 0:
        return amp, pos, half
    amp = cv2.GaussianBlur(amp, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT_101)
    size = 2 * int(np.ceil(2.0 * sigma_px)) + 1
    near = ndimage.binary_dilation(inside, np.ones((size, size), bool)) & ~inside
    pos = np.where(near, ndimage.grey_dilation(np.where(inside, pos, 0.0), size=size), pos)
    half = np.where(near, ndimage.grey_dilation(np.where(inside, half, 0.0), size=size), half)
    return amp.astype(np.float32), pos.astype(np.float32), half.astype(np.float32)


def _grain(ef: EnFace, p: SynthParams) -> np.ndarray:
    """Multiplicative flow grain of the vessels per A-scan, float32 (scans, width): lognormal
    with median 1 (what the calibrated vessel brightness is held by), log s.d.
    ``vessel_grain_sd`` at ``vessel_grain_radius_um``, falling as 1 / sqrt(radius)."""
    radius = np.maximum(ef.vessel_radius_um, 1.0)
    sd = p.vessel_grain_sd * np.sqrt(p.vessel_grain_radius_um / radius)
    return np.exp(sd * ef.vessel_grain).astype(np.float32)


def _slabs(ef: EnFace, surf: Surfaces, depth: int, p: SynthParams) -> list[_Slab]:
    """The layers of flow signal, amplitudes already multiplied by the gain field."""
    k = depth / _REF_DEPTH
    ilm, bm = surf.ilm, surf.bm
    g = ef.gain * ef.signal
    thick = bm - ilm
    min_half = _MIN_HALF
    v_pos, vr = _vessel_depth(ef, ilm, depth, p)
    # vessels thinner than labelled ones are dimmer (partial volume, slower flow): what an
    # annotator labels is what stands out
    pixel = p.pixel_scale(ef.px_per_mm)
    full = max(p.vessel_full_radius_um * pixel**p.vessel_full_power, p.label_contrast * ef.label_radius_um)
    v_amp = p.vessel_flow * ef.vessel_profile * ef.vessel_gain
    bright = np.clip(ef.vessel_radius_um / full, 0.35, 1.0) ** 1.5
    v_amp *= np.where(ef.label, np.maximum(bright, p.label_boost), bright)
    v_amp *= _grain(ef, p)
    v_amp, v_pos, vr = _spread_vessels(v_amp, v_pos, vr, ef.vessel > 0, p.vessel_blur_px)
    v_amp *= g
    tail_pos = v_pos + vr
    rpe_src = cv2.GaussianBlur(ef.vessel, (0, 0), 1.0) + 0.25 * ef.svp
    # static tissue decorrelates a little; more where the signal is weak
    amp_tissue = p.tissue_flow * ef.noise_gain * ef.gain + ef.whiteout
    ch = max(p.choroid_rows * k, min_half)
    mk = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return [
        _Slab(mk(v_amp), mk(v_pos), vr, "tent", 1.6),
        _Slab(mk(p.tail_gain * v_amp), mk(tail_pos), mk(0.55 * thick), "decay"),
        _Slab(
            mk(p.svp_flow * ef.svp * g),
            mk(ilm + 0.13 * thick),
            mk(np.maximum(0.09 * thick, min_half)),
            "tent",
            1.3,
        ),
        _Slab(
            mk(p.icp_flow * ef.icp * g),
            mk(ilm + 0.30 * thick),
            mk(np.maximum(0.045 * thick, min_half)),
            "tent",
        ),
        _Slab(
            mk(p.dcp_flow * ef.dcp * g),
            mk(ilm + 0.42 * thick),
            mk(np.maximum(0.05 * thick, min_half)),
            "tent",
        ),
        _Slab(
            mk(p.rpe_gain * p.vessel_flow * rpe_src * g),
            mk(bm - 0.07 * thick),
            mk(np.maximum(0.05 * thick, min_half)),
            "tent",
            1.3,
        ),
        _Slab(mk(p.choroid_flow * ef.choroid * g), mk(bm - 0.02 * thick), ch, "decay"),
        _Slab(
            mk(amp_tissue),
            mk(0.5 * (ilm + bm) + 0.5 * ch),
            mk(0.5 * (thick + ch) + 1.0),
            "tent",
            8.0,
        ),
    ]


def _add_tent(
    acc: np.ndarray,
    amp: np.ndarray,
    inv: np.ndarray,
    pos_inv: np.ndarray,
    row: np.float32,
    tmp: np.ndarray,
    flat: float = 1.0,
) -> None:
    """Add ``amp * clip(flat * (1 - |row * inv - pos_inv|), 0, 1)`` to ``acc`` in place: a
    tent profile of half-extent ``1 / inv`` around row ``pos_inv / inv``, all float32
    (scans, width); ``tmp`` (scans, width) is scratch."""
    np.multiply(inv, row, out=tmp)  # row * inv
    np.subtract(tmp, pos_inv, out=tmp)  # (row - pos) / half
    np.abs(tmp, out=tmp)
    np.subtract(np.float32(1.0), tmp, out=tmp)
    if flat != 1.0:
        np.multiply(tmp, np.float32(flat), out=tmp)
    np.clip(tmp, 0.0, 1.0, out=tmp)
    np.multiply(tmp, amp, out=tmp)
    np.add(acc, tmp, out=acc)


def render_volume(
    rng: np.random.Generator,
    ef: EnFace,
    surf: Surfaces,
    depth: int,
    p: SynthParams,
) -> np.ndarray:
    """Fill the uint8 OCTA volume (scans, depth, width), one depth row at a time.

    Each row is the sum of the slabs' flow, times gamma speckle (mean 1), minus the noise
    floor, clipped to the subject's saturation level. Rows no slab reaches stay 0.
    """
    scans, width = surf.ilm.shape
    vol = np.zeros((scans, depth, width), np.uint8)
    slabs = _slabs(ef, surf, depth, p)
    ranges = [s.rows(depth) for s in slabs]
    lo = min(r[0] for r in ranges)
    hi = max(r[1] for r in ranges)
    # speckle lookup table: 256 quantiles of Gamma(shape, 1 / shape)
    q = np.sort(rng.gamma(p.speckle_shape, 1.0 / p.speckle_shape, 256 * 64))
    lut = q[32::64].astype(np.float32)
    sat = float(rng.uniform(*p.saturation))
    # tent slabs in scaled form: u = row * inv - pos * inv
    prepared = []
    for s in slabs:
        inv = (1.0 / np.asarray(s.half, dtype=np.float32)).astype(np.float32)
        prepared.append((s, inv, (s.pos * inv).astype(np.float32)))
    acc = np.empty((scans, width), np.float32)
    tmp = np.empty_like(acc)
    idx = np.empty((scans, width), np.uint8)
    for d in range(lo, hi):
        acc.fill(0.0)
        for (s, inv, pos_inv), (r0, r1) in zip(prepared, ranges, strict=True):
            if not r0 <= d < r1:
                continue
            if s.kind == "tent":
                _add_tent(acc, s.amp, inv, pos_inv, np.float32(d), tmp, s.flat)
                continue
            np.multiply(inv, np.float32(d), out=tmp)  # row * inv
            np.subtract(tmp, pos_inv, out=tmp)  # (row - pos) / half
            np.subtract(np.float32(1.0), tmp, out=tmp)  # > 1 above the start
            np.multiply(tmp, tmp <= 1.0, out=tmp)
            np.maximum(tmp, 0.0, out=tmp)
            np.multiply(tmp, s.amp, out=tmp)
            np.add(acc, tmp, out=acc)
        idx[...] = rng.integers(0, 256, (scans, width), dtype=np.uint8)
        np.take(lut, idx, out=tmp)
        np.multiply(acc, tmp, out=acc)
        np.subtract(acc, np.float32(p.noise_floor - 0.5), out=acc)
        np.clip(acc, 0.0, sat, out=acc)
        vol[:, d, :] = acc
    return vol
