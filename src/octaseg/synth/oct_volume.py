"""Stage 5, OCT volume: the structural B-scans between the same surfaces as the OCTA."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from octaseg.synth.en_face import EnFace
from octaseg.synth.octa_volume import Surfaces, _add_tent, _vessel_depth
from octaseg.synth.params import _REF_DEPTH, SynthParams

_OCT_BINS = 42  # template bins per layer segment: 6 segments in the 256 entries of a LUT


def _oct_template(rng: np.random.Generator, p: SynthParams) -> tuple[np.ndarray, np.ndarray]:
    """Reflectivity of the layers (8-bit log scale) over the layer coordinate ``u``.

    ``u`` runs 0-1 through the nerve fibre layer, 1-2 from there to the outer plexiform
    layer (ganglion cells, inner plexiform, inner nuclear), 2-3 on to Bruch's membrane
    (outer plexiform, outer nuclear, external limiting membrane, photoreceptor inner /
    outer segments with the bright ellipsoid zone, the RPE band), 3-4 through the choroid
    and 4-6 into the sclera; ``u == 0`` is the vitreous. Returns the signal above the
    noise floor and the noise floor, float32 (1, 256) each, indexed by ``round(u * 42)``.
    """
    lo, hi = p.oct_floor
    u = np.arange(256, dtype=np.float64) / _OCT_BINS
    floor = lo + (hi - lo) * np.clip((u - 3.0) / 3.0, 0.0, 1.0) ** 2  # brighter deep down
    # (start of layer on u, level at its start, level at its end)
    layers = [
        (0.0, 200, 170),  # nerve fibre layer
        (1.0, 128, 128),  # ganglion cell layer
        (1.32, 145, 140),  # inner plexiform layer
        (1.58, 92, 92),  # inner nuclear layer
        (2.0, 150, 150),  # outer plexiform layer
        (2.1, 72, 68),  # outer nuclear layer
        (2.55, 125, 125),  # external limiting membrane
        (2.585, 85, 85),  # inner segments
        (2.66, 218, 218),  # ellipsoid zone (IS/OS)
        (2.72, 110, 110),  # outer segments
        (2.8, 190, 190),  # interdigitation zone
        (2.85, 235, 225),  # RPE
        (3.0, 180, 125),  # choroid
        (4.0, 120, hi),  # sclera
        (6.0, hi, hi),
    ]
    level = np.empty(256)
    for (start, a, b), (end, _, _) in itertools.pairwise(layers):
        sel = (u >= start) & (u < end)
        t = (u[sel] - start) / (end - start)
        level[sel] = (a + (b - a) * t) * rng.uniform(0.93, 1.07)
    level[u >= 6.0] = hi
    level = np.convolve(np.pad(level, 1, mode="edge"), np.ones(3) / 3, mode="valid")  # soft edges
    level[0] = lo  # the vitreous
    signal = (level - floor).astype(np.float32)[None, :]
    return signal, floor.astype(np.float32)[None, :]


@dataclass(frozen=True)
class _OctLuts:
    """Lookup tables of one subject's OCT rows, float32 or uint8 (1, 256) each.

    ``signal`` and ``floor`` are indexed by the template bin (:func:`_oct_template`),
    ``noise`` (log-compressed speckle) and the whole noise-floor rows ``vitreous`` (above
    the retina) and ``deep`` (below the sclera, uint8) by a random byte.
    """

    signal: np.ndarray
    floor: np.ndarray
    noise: np.ndarray
    vitreous: np.ndarray
    deep: np.ndarray

    def floor_level(self, deep: bool) -> float:
        """The noise floor of the vitreous (``deep`` False) or of the deep rows."""
        return float(self.floor[0, -1 if deep else 0])


def _oct_luts(rng: np.random.Generator, p: SynthParams) -> _OctLuts:
    """The subject's layer template (drawn from ``rng``) and speckle lookup tables."""
    signal_lut, floor_lut = _oct_template(rng, p)
    # log-compressed speckle: the log of an exponential intensity, zero mean, 256 quantiles
    q = (np.arange(256) + 0.5) / 256
    noise_lut = (p.oct_speckle * (np.log(-np.log1p(-q)) + np.euler_gamma)).astype(np.float32)[None, :]
    floor_vit, floor_deep = float(floor_lut[0, 0]), float(floor_lut[0, -1])
    lut_vit = np.clip(np.round(floor_vit + noise_lut), 0, 255).astype(np.uint8)
    lut_deep = np.clip(np.round(floor_deep + noise_lut), 0, 255).astype(np.uint8)
    return _OctLuts(signal_lut, floor_lut, noise_lut, lut_vit, lut_deep)


@dataclass(frozen=True)
class _LayerSegments:
    """The six segments of the layer coordinate ``u`` (see :func:`_oct_template`): per
    segment float32 (scans, width) ``inv`` = 1 / thickness and ``off`` = top / thickness,
    and the rows ``top_min`` and ``end_max`` it spans; rows ``first`` to ``last``
    (half-open) hold tissue."""

    segs: list[tuple[np.ndarray, np.ndarray, float, float]]
    first: int
    last: int

    def coordinate(self, d: int, u: np.ndarray, tmp: np.ndarray) -> None:
        """Fill ``u`` (scans, width) with the layer coordinate of depth row ``d``:
        the sum over the segments of ``clip((d - top) / thickness, 0, 1)``."""
        u.fill(0.0)
        df = np.float32(d)
        for inv, off, top_min, end_max in self.segs:
            if d < top_min:
                break
            if d >= end_max:
                u += np.float32(1.0)
                continue
            np.multiply(inv, df, out=tmp)
            np.subtract(tmp, off, out=tmp)
            np.clip(tmp, 0.0, 1.0, out=tmp)
            np.add(u, tmp, out=u)


def _layer_segments(surf: Surfaces, depth: int, p: SynthParams) -> _LayerSegments:
    """The layer segments between the surfaces (scans, width), the choroid and sclera
    below BM ``choroid_rows`` thick (scaled to ``depth``)."""
    ch = max(p.choroid_rows * depth / _REF_DEPTH, 1.0)
    tops = [surf.ilm, surf.nfl, surf.opl, surf.bm, surf.bm + ch, surf.bm + 2.2 * ch]
    ends = [surf.nfl, surf.opl, surf.bm, surf.bm + ch, surf.bm + 2.2 * ch, surf.bm + 3.4 * ch]
    segs = []
    for top, end in zip(tops, ends, strict=True):
        inv = (1.0 / np.maximum(end - top, 0.5)).astype(np.float32)
        segs.append((inv, (top * inv).astype(np.float32), float(top.min()), float(end.max())))
    first = max(0, int(np.floor(surf.ilm.min())))
    last = min(depth, int(np.ceil(ends[-1].max())) + 1)
    return _LayerSegments(segs, first, last)


@dataclass(frozen=True)
class _VesselShading:
    """Signal strength of the OCT and the large vessels in it, float32 (scans, width):
    ``gain`` above a vessel's bottom row ``bottom``, ``shaded`` below it; the vessels
    reflect ``amp`` in a tent profile (``inv`` = 1 / half-extent, ``off`` = centre * inv)
    over the rows ``lo`` to ``hi``. ``bottom`` spans the rows ``bottom_lo`` to ``bottom_hi``."""

    gain: np.ndarray
    shaded: np.ndarray
    bottom: np.ndarray
    bottom_lo: float
    bottom_hi: float
    amp: np.ndarray
    inv: np.ndarray
    off: np.ndarray
    lo: float
    hi: float

    def gain_row(self, d: int, below: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The gain (scans, width) of depth row ``d``, shadowed below the vessels;
        ``below`` (bool) and ``out`` (float32) are scratch buffers."""
        if d <= self.bottom_lo:
            return self.gain
        if d > self.bottom_hi:
            return self.shaded
        np.less(self.bottom, np.float32(d), out=below)
        np.subtract(self.gain, self.shaded, out=out)
        np.multiply(out, below, out=out)
        np.subtract(self.gain, out, out=out)
        return out

    def add_reflection(self, d: int, level: np.ndarray, tmp: np.ndarray) -> None:
        """Add the vessels' own reflection at depth row ``d`` to ``level`` (scans, width)."""
        if self.lo <= d <= self.hi:
            _add_tent(level, self.amp, self.inv, self.off, np.float32(d), tmp)


def _vessel_shading(ef: EnFace, surf: Surfaces, depth: int, p: SynthParams) -> _VesselShading:
    """The gain field, weaker for weak subjects and under floaters (on a log scale a
    shadow must be deep to show), and the large vessels: brighter, shadowing below."""
    g = np.clip(ef.gain * ef.signal, 0.05, 3.0) ** p.oct_gain_power
    g *= 1.0 - p.floater_oct_shadow * ef.floater
    v_pos, vr = _vessel_depth(ef, surf.ilm, depth, p)
    v_bottom = v_pos + vr
    big = np.clip(ef.vessel_radius_um / p.shadow_radius_um, 0.0, 1.0)
    shade = (p.vessel_shadow * ef.vessel * big).astype(np.float32)
    g_shaded = (g * (1.0 - shade)).astype(np.float32)
    g = g.astype(np.float32)
    v_amp = (p.vessel_reflect * ef.vessel * big * g).astype(np.float32)
    v_inv = (1.0 / vr).astype(np.float32)
    return _VesselShading(
        gain=g,
        shaded=g_shaded,
        bottom=v_bottom,
        bottom_lo=float(v_bottom.min()),
        bottom_hi=float(v_bottom.max()),
        amp=v_amp,
        inv=v_inv,
        off=(v_pos * v_inv).astype(np.float32),
        lo=float((v_pos - vr).min()),
        hi=float((v_pos + vr).max()),
    )


@dataclass(frozen=True)
class _Floater:
    """A faint hazy body in the vitreous around depth row ``row``, ``half`` rows thick
    each side, reflecting float32 ``amp`` (scans, width); ``present``: the subject has one."""

    row: float
    half: float
    amp: np.ndarray
    present: bool

    def reaches(self, d: int) -> bool:
        """Whether depth row ``d`` shows the floater."""
        return self.present and abs(d - self.row) < self.half

    def add(self, d: int, level: np.ndarray) -> None:
        """Add the floater's reflection at depth row ``d`` to ``level`` (scans, width)."""
        np.add(level, self.amp * np.float32(1.0 - abs(d - self.row) / self.half), out=level)


def _oct_floater(rng: np.random.Generator, ef: EnFace, first: int, depth: int, p: SynthParams) -> _Floater:
    """The floaters of ``ef`` in the vitreous, well above the retina's first row ``first``."""
    row = max(2.0, first - rng.uniform(0.15, 0.6) * first)
    half = max(p.floater_rows * depth / _REF_DEPTH, 1.0)
    amp = (p.floater_reflect * ef.floater).astype(np.float32)
    return _Floater(row, half, amp, bool(ef.floater.max() > 0))


@dataclass(frozen=True)
class _RowBuffers:
    """Scratch rows (scans, width), reused for every depth row: float32 ``u`` (the layer
    coordinate), ``tmp``, ``level`` (the row being built) and ``gain`` (its shadowed
    gain); bool ``below`` (below the vessels' bottoms); uint8 ``idx`` (the template bin)
    and ``rand`` (the row's random bytes)."""

    u: np.ndarray
    tmp: np.ndarray
    level: np.ndarray
    gain: np.ndarray
    below: np.ndarray
    idx: np.ndarray
    rand: np.ndarray

    @classmethod
    def empty(cls, scans: int, width: int) -> _RowBuffers:
        """Uninitialized buffers for rows of (scans, width)."""
        floats = (np.empty((scans, width), np.float32) for _ in range(4))
        return cls(*floats, *(np.empty((scans, width), t) for t in (bool, np.uint8, np.uint8)))


def _tissue_row(
    d: int,
    luts: _OctLuts,
    layers: _LayerSegments,
    shading: _VesselShading,
    floater: _Floater,
    buf: _RowBuffers,
) -> np.ndarray:
    """Depth row ``d`` (scans, width) of the OCT in float32 [0, 255], from the random
    bytes ``buf.rand``; returns ``buf.level``."""
    layers.coordinate(d, buf.u, buf.tmp)
    cv2.convertScaleAbs(buf.u, dst=buf.idx, alpha=_OCT_BINS)
    gain_row = shading.gain_row(d, buf.below, buf.gain)
    level = buf.level
    level[...] = cv2.LUT(buf.idx, luts.signal)
    np.multiply(level, gain_row, out=level)
    np.add(level, cv2.LUT(buf.idx, luts.floor), out=level)
    shading.add_reflection(d, level, buf.tmp)
    if floater.reaches(d):
        floater.add(d, level)
    np.add(level, cv2.LUT(buf.rand, luts.noise), out=level)
    np.clip(level, 0.0, 255.0, out=level)
    return level


def _scale_to_mean(vol: np.ndarray, mean: float, target: float) -> None:
    """Scale the uint8 volume (scans, depth, width) in place from its ``mean`` brightness
    to ``target``, unless it is within 1% already."""
    if mean > 0 and abs(mean / target - 1.0) > 0.01:
        lut = np.clip(np.round(np.arange(256) * (target / mean)), 0, 255).astype(np.uint8)
        flat = vol.reshape(vol.shape[0], -1)
        cv2.LUT(flat, lut, dst=flat)


def render_oct(
    rng: np.random.Generator, ef: EnFace, surf: Surfaces, depth: int, p: SynthParams
) -> np.ndarray:
    """Fill the uint8 OCT volume (scans, depth, width), one depth row at a time.

    Each A-scan follows the layer template (:func:`_oct_template`) between its own
    surfaces, so the layers' depth and thickness follow the same smooth surfaces as the
    flow signal. Large vessels reflect a little more and shadow everything below them;
    floaters reflect in the vitreous and shadow the retina (through the gain field);
    the gain field scales the signal above the noise floor. Log-scale speckle is added
    and the volume is finally scaled to a whole-volume mean of ``oct_mean``.
    """
    scans, width = surf.ilm.shape
    luts = _oct_luts(rng, p)
    layers = _layer_segments(surf, depth, p)
    shading = _vessel_shading(ef, surf, depth, p)
    floater = _oct_floater(rng, ef, layers.first, depth, p)
    vol = np.empty((scans, depth, width), np.uint8)
    buf = _RowBuffers.empty(scans, width)
    total = 0.0
    for d in range(depth):
        buf.rand[...] = np.frombuffer(rng.bytes(scans * width), np.uint8).reshape(scans, width)
        above = d < layers.first
        if (above or d >= layers.last) and not floater.reaches(d):  # noise floor only
            vol[:, d, :] = cv2.LUT(buf.rand, luts.vitreous if above else luts.deep)
            total += luts.floor_level(deep=not above) * scans * width
            continue
        level = _tissue_row(d, luts, layers, shading, floater, buf)
        total += float(level.sum(dtype=np.float64))
        vol[:, d, :] = level
    _scale_to_mean(vol, total / vol.size, rng.uniform(*p.oct_mean))  # the subject's mean brightness
    return vol
