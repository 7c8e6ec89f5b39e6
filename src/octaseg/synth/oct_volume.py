"""Stage 5, OCT volume: the structural B-scans between the same surfaces as the OCTA."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from octaseg.synth.en_face import EnFace
from octaseg.synth.octa_volume import Surfaces, _vessel_depth
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


def render_oct(
    rng: np.random.Generator,
    ef: EnFace,
    surf: Surfaces,
    depth: int,
    p: SynthParams,
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
    k = depth / _REF_DEPTH
    vol = np.empty((scans, depth, width), np.uint8)
    signal_lut, floor_lut = _oct_template(rng, p)
    # log-compressed speckle: the log of an exponential intensity, zero mean, 256 quantiles
    q = (np.arange(256) + 0.5) / 256
    noise_lut = (p.oct_speckle * (np.log(-np.log1p(-q)) + np.euler_gamma)).astype(np.float32)[None, :]
    floor_vit = float(floor_lut[0, 0])
    floor_deep = float(floor_lut[0, -1])
    lut_vit = np.clip(np.round(floor_vit + noise_lut), 0, 255).astype(np.uint8)
    lut_deep = np.clip(np.round(floor_deep + noise_lut), 0, 255).astype(np.uint8)

    # layer segments: u += clip((row - top) / thickness, 0, 1)
    ch = max(p.choroid_rows * k, 1.0)
    tops = [surf.ilm, surf.nfl, surf.opl, surf.bm, surf.bm + ch, surf.bm + 2.2 * ch]
    ends = [surf.nfl, surf.opl, surf.bm, surf.bm + ch, surf.bm + 2.2 * ch, surf.bm + 3.4 * ch]
    segs = []
    for top, end in zip(tops, ends, strict=True):
        inv = (1.0 / np.maximum(end - top, 0.5)).astype(np.float32)
        segs.append((inv, (top * inv).astype(np.float32), float(top.min()), float(end.max())))
    first = max(0, int(np.floor(surf.ilm.min())))
    last = min(depth, int(np.ceil(ends[-1].max())) + 1)

    # signal strength: the gain field, weaker for weak subjects; large vessels shadow below
    g = np.clip(ef.gain * ef.signal, 0.05, 3.0) ** p.oct_gain_power
    g *= 1.0 - p.floater_oct_shadow * ef.floater  # on a log scale a shadow must be deep to show
    v_pos, vr = _vessel_depth(ef, surf.ilm, depth, p)
    v_bottom = v_pos + vr
    big = np.clip(ef.vessel_radius_um / p.shadow_radius_um, 0.0, 1.0)
    shade = (p.vessel_shadow * ef.vessel * big).astype(np.float32)
    g_shaded = (g * (1.0 - shade)).astype(np.float32)
    g = g.astype(np.float32)
    vb_lo, vb_hi = float(v_bottom.min()), float(v_bottom.max())
    v_amp = (p.vessel_reflect * ef.vessel * big * g).astype(np.float32)
    v_inv = (1.0 / vr).astype(np.float32)
    v_off = (v_pos * v_inv).astype(np.float32)
    v_lo, v_hi = float((v_pos - vr).min()), float((v_pos + vr).max())
    # floaters: a faint hazy body in the vitreous, well above the retina
    f_row = max(2.0, first - rng.uniform(0.15, 0.6) * first)
    f_half = max(p.floater_rows * k, 1.0)
    f_amp = (p.floater_reflect * ef.floater).astype(np.float32)
    has_floater = bool(ef.floater.max() > 0)

    u = np.empty((scans, width), np.float32)
    tmp = np.empty_like(u)
    lvl = np.empty_like(u)
    gr = np.empty_like(u)
    below = np.empty((scans, width), bool)
    rand = np.empty((scans, width), np.uint8)
    idx = np.empty((scans, width), np.uint8)
    total = 0.0
    for d in range(depth):
        rand[...] = np.frombuffer(rng.bytes(scans * width), np.uint8).reshape(scans, width)
        floater_here = has_floater and abs(d - f_row) < f_half
        if (d < first or d >= last) and not floater_here:  # noise floor only
            row = cv2.LUT(rand, lut_vit if d < first else lut_deep)
            vol[:, d, :] = row
            total += float(floor_vit if d < first else floor_deep) * scans * width
            continue
        # layer coordinate
        u.fill(0.0)
        df = np.float32(d)
        for inv, off, top_min, end_max in segs:
            if d < top_min:
                break
            if d >= end_max:
                u += np.float32(1.0)
                continue
            np.multiply(inv, df, out=tmp)
            np.subtract(tmp, off, out=tmp)
            np.clip(tmp, 0.0, 1.0, out=tmp)
            np.add(u, tmp, out=u)
        cv2.convertScaleAbs(u, dst=idx, alpha=_OCT_BINS)
        # gain, with the shadows of the vessels above
        if d <= vb_lo:
            gain_row = g
        elif d > vb_hi:
            gain_row = g_shaded
        else:
            np.less(v_bottom, df, out=below)
            np.subtract(g, g_shaded, out=gr)
            np.multiply(gr, below, out=gr)
            np.subtract(g, gr, out=gr)
            gain_row = gr
        lvl[...] = cv2.LUT(idx, signal_lut)
        np.multiply(lvl, gain_row, out=lvl)
        np.add(lvl, cv2.LUT(idx, floor_lut), out=lvl)
        if v_lo <= d <= v_hi:  # the vessels themselves
            np.multiply(v_inv, df, out=tmp)
            np.subtract(tmp, v_off, out=tmp)
            np.abs(tmp, out=tmp)
            np.subtract(np.float32(1.0), tmp, out=tmp)
            np.maximum(tmp, 0.0, out=tmp)
            np.multiply(tmp, v_amp, out=tmp)
            np.add(lvl, tmp, out=lvl)
        if floater_here:
            np.add(lvl, f_amp * np.float32(1.0 - abs(d - f_row) / f_half), out=lvl)
        np.add(lvl, cv2.LUT(rand, noise_lut), out=lvl)
        np.clip(lvl, 0.0, 255.0, out=lvl)
        total += float(lvl.sum(dtype=np.float64))
        vol[:, d, :] = lvl
    # the whole volume to the subject's mean brightness
    mean = total / vol.size
    target = rng.uniform(*p.oct_mean)
    if mean > 0 and abs(mean / target - 1.0) > 0.01:
        lut = np.clip(np.round(np.arange(256) * (target / mean)), 0, 255).astype(np.uint8)
        flat = vol.reshape(scans, depth * width)
        cv2.LUT(flat, lut, dst=flat)
    return vol
