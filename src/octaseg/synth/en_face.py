"""Stage 3, en-face maps: the vessel tree rasterized, capillary plexuses, the labels,
and the en-face artefacts (brightness field, gain noise, eye motion, floaters)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from octaseg.synth.anatomy import Anatomy
from octaseg.synth.capillaries import capillary_plexuses
from octaseg.synth.noise import smooth_noise
from octaseg.synth.params import SynthParams
from octaseg.synth.vessel_tree import VesselTree


@dataclass(frozen=True)
class EnFace:
    """En-face maps of one subject, float32 (scans, width) in the scan frame.

    The anatomy maps (vessels, labels, plexuses, choroid) are already moved by the eye's
    motion (:class:`Motion`); the artefact maps (gain, whiteout, floaters) are not.

    Attributes:
        vessel: coverage in [0, 1] of tree vessels (labelled or not).
        vessel_profile: their relative flow signal in [0, 1]: brightest on the axis.
        vessel_radius_um: mean radius (um) of the vessels covering a pixel, 0 elsewhere.
        label: bool, the large-vessel mask.
        faz: bool, the foveal avascular zone.
        capillary: bool, the capillaries: superficial and deep plexus and the unlabelled
            thin vessels, none under the large-vessel label.
        svp, icp, dcp: capillary meshes in [0, 1] of the superficial, intermediate and
            deep plexuses (0 inside the FAZ and under large vessels).
        choroid: choroidal flow texture, mean about 1.
        gain: multiplicative signal strength (brightness field, dim B-scans, shadows of
            vitreous floaters), mean about 1.
        whiteout: additive decorrelation (bright motion stripes), 8-bit units.
        floater: density in [0, 1] of vitreous floaters.
        signal: the subject's signal strength, 1 or less (weak signal: fainter flow).
        noise_gain: decorrelation noise of static tissue, relative (weak signal: more).
        label_radius_um: the radius from which vessels are labelled.
        motion: the B-scans' displacements.
        vessel_gain: multiplicative flow signal of the vessels, mean about 1, smooth over
            a few hundred um (flow and depth vary along a vessel and between vessels).
        px_per_mm: pixels per mm of the maps (both axes).
        vessel_grain: standard normal noise per A-scan of the vessels' log flow signal:
            the decorrelation of moving blood fluctuates from one A-scan to the next, and
            is the same over the few rows one vessel spans (``vessel_grain_sd``).
    """

    vessel: np.ndarray
    vessel_profile: np.ndarray
    vessel_radius_um: np.ndarray
    label: np.ndarray
    faz: np.ndarray
    capillary: np.ndarray
    svp: np.ndarray
    icp: np.ndarray
    dcp: np.ndarray
    choroid: np.ndarray
    gain: np.ndarray
    whiteout: np.ndarray
    floater: np.ndarray
    signal: float
    noise_gain: float
    label_radius_um: float
    motion: Motion
    vessel_gain: np.ndarray
    px_per_mm: float
    vessel_grain: np.ndarray


def render_vessels(
    tree: VesselTree,
    anat: Anatomy,
    labelled: np.ndarray,
    min_label_px: float = 2.0,
    psf_um: float = 0.0,
    label_scale: float = 1.0,
    supersample: int = 4,
    core_fraction: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize the tree onto the (scans, width) grid with anti-aliasing.

    Segments are drawn as thick lines on a ``supersample``-times finer canvas, thickest
    last, and area-averaged down; a vessel shows as wide as its diameter and the device's
    lateral resolution ``psf_um`` together (root of the sum of squares). Returns float32
    coverage in [0, 1], float32 mean radius (um) of the covering vessels, the bool label
    (coverage at least one half by the ``labelled`` segments, bool per node, drawn
    ``label_scale`` times as wide as they show and at least ``min_label_px`` wide), and
    float32 coverage in [0, 1] of the vessels' cores: each segment drawn ``core_fraction``
    times as wide as it shows (1: the coverage itself).
    """
    ss = supersample
    h, w = anat.scans * ss, anat.width * ss
    scale = anat.px_per_mm * ss
    frac_bits = 3
    fix = float(1 << frac_bits)
    child = np.flatnonzero(tree.parent >= 0)
    child = child[np.argsort(tree.radius[child], kind="stable")]
    # pixel i of the canvas covers [i, i + 1) in canvas units: centre at i + 0.5
    a = np.round((tree.points[child] * scale - 0.5) * fix).astype(np.int64)
    b = np.round((tree.points[tree.parent[child]] * scale - 0.5) * fix).astype(np.int64)
    r_um = tree.radius[child]
    # the flow signal of a vessel is its lumen blurred by the device's lateral resolution;
    # cv2 draws a line of thickness t about t + 1 canvas pixels wide
    seen_mm = np.hypot(2.0 * r_um, psf_um) / 1000.0
    thick = np.maximum(1, np.round(seen_mm * scale) - 1).astype(np.int64)
    min_label = max(1, round(min_label_px * ss) - 1)
    drawn = seen_mm * label_scale * scale  # annotators draw a vessel as wide as it looks
    thick_label = np.maximum(min_label, np.round(drawn) - 1).astype(np.int64)
    um_per_code = 0.5  # radius code: 0.5 um per step, up to 127 um
    code = np.clip(np.round(r_um / um_per_code), 1, 255).astype(np.int64)
    radius_canvas = np.zeros((h, w), np.uint8)
    label_canvas = np.zeros((h, w), np.uint8)
    core_canvas = np.zeros((h, w), np.uint8) if core_fraction < 1.0 else None
    lab = labelled[child]
    # skip segments that lie wholly outside the canvas (plus their thickness)
    lo = np.minimum(a, b) / fix - thick[:, None]
    hi = np.maximum(a, b) / fix + thick[:, None]
    inside = (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < w) & (lo[:, 1] < h)
    for i in np.flatnonzero(inside):
        p0 = (int(a[i, 0]), int(a[i, 1]))
        p1 = (int(b[i, 0]), int(b[i, 1]))
        t = int(thick[i])
        if lab[i]:  # what is labelled shows at least as wide as its label
            t = max(t, int(thick_label[i]))
            cv2.line(label_canvas, p0, p1, 255, int(thick_label[i]), cv2.LINE_8, frac_bits)
        cv2.line(radius_canvas, p0, p1, int(code[i]), t, cv2.LINE_8, frac_bits)
        if core_canvas is not None:
            core_t = max(1, round((t + 1) * core_fraction) - 1)
            cv2.line(core_canvas, p0, p1, 255, core_t, cv2.LINE_8, frac_bits)
    size = (anat.width, anat.scans)
    cover = cv2.resize((radius_canvas > 0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    rsum = cv2.resize(radius_canvas.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    radius = np.where(cover > 0, rsum * um_per_code / np.maximum(cover, 1e-6), 0.0)
    label = cv2.resize(label_canvas, size, interpolation=cv2.INTER_AREA) >= 128
    if core_canvas is None:
        core = cover
    else:
        core = cv2.resize(core_canvas.astype(np.float32) / 255.0, size, interpolation=cv2.INTER_AREA)
    return cover, radius.astype(np.float32), label, core


def _shift_rows(img: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Shift each row ``s`` of a (scans, width) image right by ``shift[s]`` px (edge held)."""
    if not shift.any():
        return img
    cols = np.clip(np.arange(img.shape[1])[None, :] - shift[:, None], 0, img.shape[1] - 1)
    return np.take_along_axis(img, cols, axis=1)


@dataclass(frozen=True)
class Motion:
    """Where each B-scan images the tissue: eye motion along the slow axis.

    B-scan ``s`` shows the tissue of scan ``src[s]`` moved right by ``shift[s]`` px. A
    shift stripe moves a run of B-scans sideways; a stretch stripe scans the same tissue
    over a run of B-scans (``src`` advances slower, some rows repeat) and then jumps back
    on track, so vessels crossing it look stretched.
    """

    src: np.ndarray  # int64 (scans,)
    shift: np.ndarray  # int64 (scans,)

    def warp(self, img: np.ndarray) -> np.ndarray:
        """An en-face map (scans, width) of the tissue as the B-scans see it."""
        still = np.array_equal(self.src, np.arange(len(self.src)))
        return _shift_rows(img if still else img[self.src], self.shift)


def _floaters(rng: np.random.Generator, anat: Anatomy, p: SynthParams) -> np.ndarray:
    """Density in [0, 1] of the subject's vitreous floaters, float32 (scans, width).

    Some subjects have one to a few: soft, irregular blobs 0.15-0.6 mm across.
    """
    shape = (anat.scans, anat.width)
    out = np.zeros(shape, np.float32)
    if rng.random() >= p.floater_probability:
        return out
    yy, xx = np.mgrid[0 : anat.scans, 0 : anat.width].astype(np.float32)
    xs, ys = (xx + 0.5) / anat.px_per_mm, (yy + 0.5) / anat.px_per_mm
    w_mm, h_mm = anat.size_mm
    wobble = smooth_noise(rng, shape, 0.05 * anat.px_per_mm)
    for _ in range(int(rng.integers(1, p.max_floaters + 1))):
        cx, cy = rng.uniform(0.0, w_mm), rng.uniform(0.0, h_mm)
        r = rng.uniform(*p.floater_radius_mm)
        ax = rng.uniform(0.5, 1.0)  # elongated, at any angle
        th = rng.uniform(0.0, np.pi)
        dx, dy = xs - cx, ys - cy
        u = (dx * np.cos(th) + dy * np.sin(th)) / r
        v = (-dx * np.sin(th) + dy * np.cos(th)) / (r * ax)
        dist = np.sqrt(u * u + v * v) * (1.0 + 0.25 * wobble)
        np.maximum(out, np.exp(-(dist**4)) * rng.uniform(0.6, 1.0), out=out)
    return out


def _labelled_vessels(
    rng: np.random.Generator, anat: Anatomy, tree: VesselTree, p: SynthParams
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw the subject's label threshold and rasterize the tree (:func:`render_vessels`).

    Annotators label what looks wide enough and draw it as wide as it looks, in pixels: at
    a finer resolution than ``label_um_per_px``, thinner vessels and narrower lines
    (vessel_geometry: OCTA-500's 3 mm labels are as many pixels wide as its 6 mm ones), at
    least ~ 25 um (1.6 px at 6 mm, 2 px at 3 mm) and 1 px wide. Returns the threshold
    radius (um), the float32 coverage and mean radius (um), the bool label, and the
    float32 flow profile: 1 on the vessels' axes, falling to 1 - ``vessel_core_weight``
    outside their cores (``vessel_core_fraction`` of their width), each (scans, width) in
    the tissue frame.
    """
    label_scale = p.pixel_scale(anat.px_per_mm)
    thr = rng.uniform(*p.label_radius_um) * label_scale**p.label_threshold_power
    min_label_px = float(np.clip(p.min_label_um / 1000.0 * anat.px_per_mm, 1.0, 2.0))
    labelled = tree.labelled(thr, min(0.95, p.label_fade / label_scale**p.label_fade_power))
    vessel, radius, label, core = render_vessels(
        tree,
        anat,
        labelled,
        min_label_px,
        p.psf_um * label_scale**p.psf_power,
        label_scale**p.label_width_power,
        core_fraction=p.vessel_core_fraction,
    )
    profile = (1.0 - p.vessel_core_weight) * vessel + p.vessel_core_weight * core
    return thr, vessel, radius, label, profile.astype(np.float32)


def _choroid(rng: np.random.Generator, anat: Anatomy, p: SynthParams) -> np.ndarray:
    """Choroidal flow texture, float32 (scans, width) with mean 1."""
    shape = (anat.scans, anat.width)
    choroid = np.exp(p.choroid_texture_sd * smooth_noise(rng, shape, 0.03 * anat.px_per_mm))
    choroid /= choroid.mean()
    return choroid.astype(np.float32)


def _brightness(rng: np.random.Generator, anat: Anatomy, p: SynthParams) -> np.ndarray:
    """Low-frequency brightness times each A-scan's small fluctuation (which survives the
    projection as grain): float32 (scans, width), mean 1."""
    shape = (anat.scans, anat.width)
    gain = np.exp(p.brightness_sd * smooth_noise(rng, shape, 0.22 * anat.width))
    gain *= np.exp(p.ascan_noise_sd * rng.standard_normal(shape, dtype=np.float32))
    return (gain / gain.mean()).astype(np.float32)


def _stripes(
    rng: np.random.Generator, anat: Anatomy, p: SynthParams, gain: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Motion]:
    """Motion stripes: bright, dim, shifted and stretched runs of B-scans.

    Takes the float32 gain (scans, width) and returns a dimmed copy of it, the float32
    additive whiteout (scans, width) and the B-scans' :class:`Motion`.
    """
    gain = gain.copy()
    whiteout = np.zeros((anat.scans, anat.width), np.float32)
    src = np.arange(anat.scans, dtype=np.int64)
    shift = np.zeros(anat.scans, np.int64)
    kinds = np.asarray(p.stripe_kinds, dtype=np.float64)
    for _ in range(int(rng.integers(p.stripes[0], p.stripes[1] + 1))):
        s0 = int(rng.integers(0, anat.scans))
        kind = int(rng.choice(4, p=kinds / kinds.sum()))
        if kind == 0:  # bright: decorrelation of a whole B-scan (blink, saccade)
            n = int(rng.integers(1, 4))
            whiteout[s0 : s0 + n] += rng.uniform(*p.whiteout)
        elif kind == 1:  # dim: signal lost for a few B-scans
            n = int(rng.integers(1, 6))
            gain[s0 : s0 + n] *= rng.uniform(*p.dim_stripe)
        elif kind == 2:  # shift: the eye moved sideways for a while
            n = int(rng.integers(3, max(4, anat.scans // 12)))
            shift[s0 : s0 + n] += int(rng.choice([-1, 1]) * rng.integers(1, 4))
        else:  # stretch: the eye drifted with the scan, then the tracker jumped back
            n = int(rng.integers(4, max(5, anat.scans // 15)))
            rate = rng.uniform(0.65, 0.9)
            run = src[s0] + np.floor(np.arange(len(src[s0 : s0 + n])) * rate).astype(np.int64)
            src[s0 : s0 + n] = run
    return gain, whiteout, Motion(src=np.clip(src, 0, anat.scans - 1), shift=shift)


def _signal_strength(rng: np.random.Generator, p: SynthParams) -> tuple[float, float]:
    """The subject's signal strength and static-tissue noise gain: (1, 1) but for weakly
    scanned subjects (fainter flow, more noise)."""
    weak = rng.random() < p.low_signal_probability
    signal = float(rng.uniform(*p.low_signal)) if weak else 1.0
    noise_gain = float(rng.uniform(*p.low_signal_noise)) if weak else 1.0
    return signal, noise_gain


def _vessel_gain(rng: np.random.Generator, anat: Anatomy, p: SynthParams, vessel: np.ndarray) -> np.ndarray:
    """Smooth multiplicative flow signal of the vessels, float32 (scans, width); the
    vessels' mean flow (weighted by the coverage ``vessel`` (scans, width)) stays."""
    sigma_px = p.vessel_gain_mm * anat.px_per_mm
    vessel_gain = np.exp(p.vessel_gain_sd * smooth_noise(rng, (anat.scans, anat.width), sigma_px))
    weight = vessel if vessel.any() else np.ones_like(vessel)
    return (vessel_gain * weight.sum() / (vessel_gain * weight).sum()).astype(np.float32)


def _vessel_grain(rng: np.random.Generator, anat: Anatomy) -> np.ndarray:
    """Standard normal noise per A-scan, float32 (scans, width), of the vessels' log flow
    signal (scaled by ``vessel_grain_sd`` where the volume is rendered)."""
    return rng.standard_normal((anat.scans, anat.width), dtype=np.float32)


def render_enface(
    rng: np.random.Generator,
    anat: Anatomy,
    tree: VesselTree,
    p: SynthParams,
) -> EnFace:
    """All en-face maps of a subject (see :class:`EnFace`), artefacts included.

    The draws from ``rng`` come in a fixed order, one stage after another: the label
    threshold, the plexuses, the choroid, the brightness, the stripes, the floaters and
    the signal strength; the vessel gain and grain draw from child generators, so the
    draws of the later stages stay as they were before they existed.
    """
    thr, vessel, radius, label, profile = _labelled_vessels(rng, anat, tree, p)
    faz, svp, icp, dcp = capillary_plexuses(rng, anat, p, vessel)
    capillary = ((svp > 0.5) | (dcp > 0.5) | (vessel > 0.5)) & ~label & ~faz
    choroid = _choroid(rng, anat, p)
    gain, whiteout, motion = _stripes(rng, anat, p, _brightness(rng, anat, p))
    floater = _floaters(rng, anat, p)
    gain *= 1.0 - p.floater_shadow * floater  # floaters shadow everything below them
    signal, noise_gain = _signal_strength(rng, p)
    child, grain_rng = rng.spawn(2)
    tissue = {  # the anatomy: moved as the B-scans see it
        "vessel": vessel,
        "vessel_profile": profile,
        "vessel_radius_um": radius,
        "label": label,
        "faz": faz,
        "capillary": capillary,
        "svp": svp,
        "icp": icp,
        "dcp": dcp,
        "choroid": choroid,
        "vessel_gain": _vessel_gain(child, anat, p, vessel),
    }
    return EnFace(
        **{name: motion.warp(image) for name, image in tissue.items()},
        motion=motion,
        label_radius_um=thr,
        # the artefacts: in the scan frame, not moved
        gain=gain.astype(np.float32),
        whiteout=whiteout,
        floater=floater,
        signal=signal,
        noise_gain=noise_gain,
        px_per_mm=float(anat.px_per_mm),
        vessel_grain=_vessel_grain(grain_rng, anat),
    )
