"""Synthetic OCTA-500: OCTA and OCT volumes and their labels, grown rather than drawn.

A subject is made in stages, each a pure function of one seeded generator
(``np.random.default_rng([seed, subject_id])``):

1. **Anatomy** (:func:`sample_anatomy`): fovea near the field centre, an irregular foveal
   avascular zone (FAZ) whose size varies per subject, the optic disc just outside the
   field on the nasal side (left or right eye).
2. **Vessel tree** (:func:`grow_vessel_tree`): four arcade trunks (superior / inferior,
   artery / vein, one of each pair closer to the fovea) grow from the disc along a path
   around the fovea that runs on nearly straight past it; branches sprout from them and
   grow as smooth, forking walks that turn towards the fovea (or away from it), so they
   run nearly straight and converge on the FAZ; a branch stops short of another vessel
   ahead of it, so they interdigitate rather than loop or cross; short thin twigs sprout
   along the vessels. The tree is grown over at least 6 mm, so a 3 mm field shows the
   centre of the same kind of vasculature. Radii follow Murray's law,
   ``r_parent**3 == r_1**3 + r_2**3`` at every fork (up to one step of leakage), with
   flow proportional to the vessel length fed; the arcades also feed the periphery, so
   they stay wide and taper most near the disc while their macular branches are thin.
3. **En-face maps** (:func:`render_enface`): the tree rasterized with anti-aliasing,
   vessels as wide as their lumen and the device's resolution together; the label is the
   vessels from a radius chosen per subject so that about 9% of the field is labelled,
   each traced on while it thins out down to half that radius (how an annotator follows
   a vessel); thinner vessels are visible but unlabelled. Capillary meshes (iso-lines of
   band-pass noise) of three plexuses fill the field outside the FAZ. The FAZ and the
   capillaries are labels too. Artefacts: a low-frequency brightness field, A-scan gain
   noise, dim and bright B-scans, eye motion (:class:`Motion`: B-scans shifted sideways,
   or stretched: the same tissue scanned over several B-scans, then a jump), vitreous
   floaters that shadow what is below them, and some subjects with a weak signal. Motion
   moves the label with the tissue; floaters and weak signal leave it as it is.
4. **OCTA volume** (:func:`render_volume`): a retinal band (ILM to BM ~ 104-120 rows,
   thinner in the foveal pit, tilted and bowed; :func:`retina_surfaces`) with its ILM
   near row 243 of 640; flow signal in slabs: large vessels under the ILM with a
   projection tail below them, superficial, intermediate and deep capillary plexuses, a
   projection artefact at the RPE, choroidal flow under the BM, static-tissue noise;
   gamma speckle; a noise floor subtracted and the result clipped near 85, so that ~81%
   of voxels are exactly 0 as in OCTA-500.
5. **OCT volume** (:func:`render_oct`): the structural B-scans between the same surfaces:
   a dark vitreous, the bright nerve fibre layer, darker nuclear layers, the bright
   ellipsoid zone and RPE band, the choroid and sclera below; large vessels shadow the
   layers below them, floaters the whole retina; log-scale speckle; mean about 90.

En-face lengths are in mm (the field is 6 mm, or 3 mm for the 304 x 304 geometry),
depth lengths in rows of a 640-row B-scan scaled by ``depth / 640``, so any geometry
(tests use 64 x 96 x 64) renders the same anatomy. The volumes are filled one depth row
at a time, vectorized over the en-face plane.

Frames: the volumes are ``V[scan, depth, x]``; en-face maps and the labels are in the
scan frame ``[scan, x]`` (row = B-scan, column = x), so the labels match the mean
projection over depth. :func:`write_subject` orients the labels as OCTA-500 does (6mm:
``flipud``).
"""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from octaseg.io import write_image
from octaseg.layout import FOV_GEOMETRY
from octaseg.projection import orient

_MIN_WIDTH = 32  # en-face size below which vessels and FAZ cannot be resolved at all
_MIN_DEPTH = 64  # rows below which the retinal band has no room for its layers
_REF_DEPTH = 640  # depth quantities are given in rows of a 640-row B-scan
_AXIAL_UM_PER_ROW = 2000.0 / _REF_DEPTH  # 2 mm of tissue over 640 rows


@dataclass(frozen=True)
class SyntheticSubject:
    """One synthetic subject.

    Attributes:
        subject_id: the OCTA-500 style id (e.g. 10001).
        octa: uint8 (scans, depth, width), B-scans stacked along the slow axis,
            ``octa[scan, depth, x]``.
        label: uint8 (scans, width) with values 0/255, the large-vessel mask in the scan
            frame: ``label[s, x]`` is the en-face pixel of B-scan ``s``, column ``x``.
        oct: uint8 (scans, depth, width), the structural OCT volume in the frame of
            ``octa``; None: not written.
        faz: uint8 (scans, width) of 0/255, the foveal avascular zone (label frame).
        capillary: uint8 (scans, width) of 0/255, the capillaries: the plexus and the thin
            vessels not in ``label`` (label frame).
        layers: OCTA-500's six layer surfaces (:data:`octaseg.layers.SURFACES`), each
            float32 depth rows (scans, width) in the frame of ``octa``; None: not written.
    """

    subject_id: int
    octa: np.ndarray
    label: np.ndarray
    oct: np.ndarray | None = None
    faz: np.ndarray | None = None
    capillary: np.ndarray | None = None
    layers: dict[str, np.ndarray] | None = None


@dataclass(frozen=True)
class SynthParams:
    """Knobs of the generator. Defaults are calibrated against OCTA-500 6mm and 3mm
    statistics (:data:`octaseg.realism.TARGETS`).

    En-face lengths are in mm or um, depth lengths in rows of a 640-row B-scan.
    """

    # --- anatomy
    faz_radius_mm: tuple[float, float] = (0.22, 0.42)  # FAZ mean radius range
    parafovea_mm: float = 0.6  # capillary density ramps up over this distance from the FAZ
    fovea_jitter_mm: float = 0.15  # s.d. of the fovea's offset from the field centre
    disc_distance_mm: tuple[float, float] = (3.6, 4.2)  # disc centre to fovea
    # --- vessel growth (branching walks from the arcades)
    step_mm: float = 0.045  # growth step
    margin_mm: float = 0.3  # vessels grow this far beyond the field
    growth_field_mm: float = 6.0  # vessels grow over at least this field (3mm: its centre)
    arcade_mm: tuple[float, float] = (1.05, 1.8)  # inner arcade's distance above / below the fovea
    arcade_gap_mm: tuple[float, float] = (1.0, 2.0)  # from there to the outer (artery or vein)
    arcade_flatness: tuple[float, float] = (0.8, 1.1)  # 1: straight past the fovea
    arcade_end: float = 0.8  # arcade trunks stop at this fraction of a half turn
    sprout_interval_mm: float = 0.6  # mean distance along a trunk between its branches
    outward_fraction: float = 0.35  # trunk branches running away from the fovea
    fork_interval_mm: tuple[float, ...] = (0.35, 0.5)  # mean distance between side branches,
    # per order: a trunk's branch is of order 1, a side branch of order k of order k + 1;
    # branches of the last order + 1 never fork
    branch_length_mm: tuple[tuple[float, float], ...] = ((0.5, 2.0), (0.15, 0.7))  # orders 2, 3..
    min_fork_mm: float = 0.15  # least distance between forks
    radial_pull: float = 0.06  # fraction of the angle to the radial direction turned per step
    curl_sd: float = 0.01  # s.d. of the per-step change of a branch's curvature, radians
    curl_memory: float = 0.85  # curvature persistence per step (smooth meanders)
    max_turn: float = 0.06  # largest change of a branch's heading per step, radians
    min_branch_angle: float = 0.45  # a side branch leaves its vessel at this angle or more
    max_branch_angle: float = 0.95  # and at this angle or less, radians
    fork_deflection: float = 0.2  # the continuing vessel turns up to this much the other way
    dichotomy: float = 0.2  # fraction of forks that split a vessel into two of its order
    major_fraction: float = 0.3  # trunk branches that split more often: wider territories
    major_dichotomy: float = 0.6  # and so wider vessels (Murray), the ones seen at 3 mm
    spacing_mm: float = 0.12  # a branch stops this close ahead of a vessel of its order or lower
    faz_stop_mm: tuple[float, float] = (0.02, 0.35)  # branches end this far outside the FAZ
    max_iterations: int = 400
    min_twig_mm: float = 0.15  # shorter terminal side branches are pruned
    smooth_iterations: int = 4  # Laplacian smoothing of the grown vessels
    twig_interval_mm: float = 0.4  # mean distance along vessels between thin side twigs
    twig_length_mm: tuple[float, float] = (0.08, 0.45)
    twig_step_mm: float = 0.03
    twig_curl_sd: float = 0.03  # s.d. of a twig's steady bend per step, radians
    # --- radii (Murray's law)
    trunk_radius_um: tuple[float, float] = (38.0, 50.0)  # radius at the disc, per trunk
    periphery: float = 1.0  # flow of an arcade on to the periphery / its flow in the field
    side_periphery: float = 2.0  # flow of its large peripheral branches / its flow in the field
    side_periphery_mm: tuple[float, float] = (0.3, 3.0)  # where they leave, mm from the disc
    label_fraction: tuple[float, float] = (0.065, 0.105)  # labelled area, per subject
    label_radius_um: tuple[float, float] = (5.0, 30.0)  # bounds of the label threshold
    min_label_um: float = 24.0  # labelled vessels are drawn at least this wide (1.6-2 px)
    label_fade: float = 0.5  # a labelled vessel is traced on down to this x the label radius
    # --- capillaries
    capillary_scale_mm: float = 0.022  # band-pass noise scale (mesh spacing ~ 3x this)
    capillary_line_width: float = 0.35  # iso-line half-width, in units of the noise s.d.
    # --- retina (rows of a 640-row B-scan)
    ilm_row: float = 243.0
    thickness_rows: tuple[float, float] = (104.0, 120.0)  # ILM to BM away from the fovea
    pit_rows: tuple[float, float] = (18.0, 30.0)  # foveal pit depth
    tilt_rows: float = 20.0  # s.d. of the band's tilt across the field
    choroid_rows: float = 55.0
    # --- intensity (OCTA decorrelation, 8-bit)
    vessel_flow: float = 90.0
    psf_um: float = 22.0  # lateral resolution: vessels show this much wider (in quadrature)
    vessel_full_radius_um: float = 10.0  # thinner vessels are dimmer...
    label_contrast: float = 1.0  # ... and so are those thinner than this x label radius
    label_boost: float = 1.0  # labelled vessels are at least this bright (what stands out)
    vessel_axial_factor: float = 0.35  # axial half-extent of the flow signal / radius
    vessel_min_half_rows: float = 4.0  # least axial half-extent of a vessel's flow signal
    tail_gain: float = 0.4  # projection tail below large vessels, fraction of their flow
    rpe_gain: float = 0.2  # projection artefact at the RPE
    svp_flow: float = 115.0
    icp_flow: float = 30.0
    dcp_flow: float = 40.0
    choroid_flow: float = 15.0
    choroid_texture_sd: float = 0.2  # s.d. of the log choroidal flow texture
    tissue_flow: float = 4.0  # baseline decorrelation of static tissue in the band
    speckle_shape: float = 2.8  # gamma shape of the multiplicative speckle (mean 1)
    noise_floor: float = 2.4  # subtracted before quantization: most noise becomes 0
    saturation: tuple[float, float] = (80.0, 90.0)  # per-subject clip level
    # --- artefacts
    brightness_sd: float = 0.18  # s.d. of the log low-frequency multiplicative field
    ascan_noise_sd: float = 0.06  # s.d. of the log gain of single A-scans
    stripes: tuple[int, int] = (0, 5)  # number of motion stripes (min, max inclusive)
    stripe_kinds: tuple[float, float, float, float] = (0.25, 0.2, 0.3, 0.25)  # bright, dim,
    # shift, stretch: relative frequencies
    whiteout: tuple[float, float] = (2.0, 6.0)  # decorrelation added by a bright stripe
    floater_probability: float = 0.3  # subjects with vitreous floaters
    max_floaters: int = 2
    floater_radius_mm: tuple[float, float] = (0.06, 0.22)
    floater_shadow: float = 0.45  # signal lost under the densest part of a floater
    low_signal_probability: float = 0.15  # subjects scanned with a weak signal
    low_signal: tuple[float, float] = (0.6, 0.85)  # their flow signal, relative
    low_signal_noise: tuple[float, float] = (1.2, 1.5)  # their static-tissue noise, relative
    # --- OCT (8-bit log-scale reflectivity)
    oct_mean: tuple[float, float] = (84.0, 96.0)  # whole-volume mean, per subject
    oct_floor: tuple[float, float] = (38.0, 82.0)  # noise floor in the vitreous, deep down
    oct_speckle: float = 20.0  # log-speckle scale: its s.d. is 1.28 x this
    oct_gain_power: float = 0.6  # the log-scale signal follows the gain field less
    outer_rows: tuple[float, float] = (44.0, 50.0)  # outer plexiform layer to the BM
    nfl_fraction: tuple[float, float] = (0.05, 0.3)  # of the inner retina, fovea / away
    vessel_reflect: float = 35.0  # large vessels reflect a little more than the NFL...
    vessel_shadow: float = 0.55  # ... and shadow this much of the signal below them
    shadow_radius_um: float = 25.0  # vessels this wide or more shadow fully
    floater_oct_shadow: float = 0.4  # OCT signal lost under a floater, besides its gain
    floater_reflect: float = 45.0  # a floater's haze in the vitreous
    floater_rows: float = 12.0  # its axial half-extent


DEFAULT_PARAMS = SynthParams()


# =========================================================================== anatomy


@dataclass(frozen=True)
class Anatomy:
    """Where things are, in mm from the top-left corner of the en-face field.

    x runs along the B-scan (columns), y along the slow axis (scans).
    """

    scans: int
    width: int
    px_per_mm: float
    fovea: tuple[float, float]  # (x, y) mm
    faz_radius: float  # mean FAZ radius, mm
    faz_harmonics: tuple[tuple[float, float], ...]  # (relative amplitude, phase) for k=2..
    disc: tuple[float, float]  # (x, y) mm, outside the field
    disc_side: int  # -1: disc to the left (small x), +1: to the right

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) of the field in mm."""
        return self.width / self.px_per_mm, self.scans / self.px_per_mm

    def faz_boundary(self, angle: np.ndarray) -> np.ndarray:
        """FAZ radius (mm) in the direction ``angle`` (radians), same shape as angle."""
        rel = np.ones_like(angle, dtype=np.float64)
        for k, (amp, phase) in enumerate(self.faz_harmonics, start=2):
            rel = rel + amp * np.cos(k * angle + phase)
        return self.faz_radius * rel

    def faz_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance-like value: < 0 inside the FAZ, ~ mm outside its boundary."""
        dx, dy = x - self.fovea[0], y - self.fovea[1]
        return np.hypot(dx, dy) - self.faz_boundary(np.arctan2(dy, dx))


def sample_anatomy(
    rng: np.random.Generator, scans: int, width: int, field_mm: float, p: SynthParams
) -> Anatomy:
    """Draw the anatomy of one subject for an en-face field of (scans, width) pixels."""
    px_per_mm = width / field_mm
    w_mm, h_mm = width / px_per_mm, scans / px_per_mm
    jitter = np.clip(rng.normal(0.0, p.fovea_jitter_mm, 2), -0.35, 0.35)
    fovea = (w_mm / 2 + jitter[0], h_mm / 2 + jitter[1])
    faz_radius = rng.uniform(*p.faz_radius_mm)
    amps, phases = rng.uniform(0.0, 0.12, 4), rng.uniform(0.0, 2 * np.pi, 4)
    harmonics = tuple((float(a), float(ph)) for a, ph in zip(amps, phases, strict=True))
    side = int(rng.choice([-1, 1]))
    dist = rng.uniform(*p.disc_distance_mm)
    disc = (fovea[0] + side * dist, fovea[1] + rng.uniform(-0.1, 0.4))
    return Anatomy(
        scans=scans,
        width=width,
        px_per_mm=px_per_mm,
        fovea=(float(fovea[0]), float(fovea[1])),
        faz_radius=float(faz_radius),
        faz_harmonics=harmonics,
        disc=(float(disc[0]), float(disc[1])),
        disc_side=side,
    )


# =========================================================================== vessel tree


@dataclass(frozen=True)
class VesselTree:
    """A forest of vessel trees as nodes with parent links (parents precede children).

    Attributes:
        points: float64 (N, 2), node positions (x, y) in mm.
        parent: int64 (N,), parent index, -1 for a root.
        radius: float64 (N,), radius in um of the segment from the node to its parent.
        start_radius: float64 (N,), radius in um where the node's vessel starts: at its
            fork from a wider vessel (a vessel continues through each fork into the child
            of the larger radius).
    """

    points: np.ndarray
    parent: np.ndarray
    radius: np.ndarray
    start_radius: np.ndarray

    def labelled(self, radius_um: float, fade: float) -> np.ndarray:
        """Which segments an annotator labels, bool (N,): those of radius ``radius_um`` or
        more, and their continuations down to ``fade * radius_um`` (a labelled vessel is
        traced on while it thins out, its side branches only where they are wide enough).
        """
        r = self.radius
        return (self.parent >= 0) & (
            (r >= radius_um) | ((r >= fade * radius_um) & (self.start_radius >= radius_um))
        )


def _growth_bounds(anat: Anatomy, p: SynthParams) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) mm of the area vessels grow over: the field, widened to at least
    ``growth_field_mm`` about its centre (a 3 mm field shows the centre of a 6 mm
    vasculature), plus ``margin_mm``."""
    w_mm, h_mm = anat.size_mm
    mx = max(0.0, 0.5 * (p.growth_field_mm - w_mm)) + p.margin_mm
    my = max(0.0, 0.5 * (p.growth_field_mm - h_mm)) + p.margin_mm
    return -mx, -my, w_mm + mx, h_mm + my


def _grow_trunk(
    rng: np.random.Generator, anat: Anatomy, vertical: int, a_mid: float, p: SynthParams
) -> np.ndarray:
    """One arcade trunk: a smooth walk from the disc that follows a path around the fovea.

    ``vertical`` is -1 for the superior arcade (towards small y), +1 for the inferior one;
    ``a_mid`` is its distance (mm) from the fovea above / below it.
    The guide path, in polar coordinates around the fovea with angle ``phi`` measured from
    the disc direction, has radius ``rho(phi)`` shrinking from the disc distance to about
    2 mm above/below the fovea, then runs on nearly straight (``rho ~ 1 / sin(phi)**k``)
    towards the temporal raphe. Returns float64 (n, 2).
    """
    fx, fy = anat.fovea
    dx0, dy0 = anat.disc[0] - fx, anat.disc[1] - fy
    d_disc = float(np.hypot(dx0, dy0))
    base = float(np.arctan2(dy0, dx0))
    sense = vertical * anat.disc_side  # sign of the polar angle's change along the arcade
    flat = rng.uniform(*p.arcade_flatness)

    def guide(phi: float) -> np.ndarray:
        if phi <= np.pi / 2:
            rho = d_disc + (a_mid - d_disc) * np.sin(phi)
        else:
            rho = a_mid / max(np.sin(phi), 0.3) ** flat
        ang = base + sense * phi
        return np.array([fx + rho * np.cos(ang), fy + rho * np.sin(ang)])

    x0, y0, x1, y1 = _growth_bounds(anat, p)
    pad = 0.3
    pos = np.array(anat.disc, dtype=np.float64)
    heading = np.arctan2(-dy0, -dx0) - sense * rng.uniform(0.5, 0.9)
    curl = 0.0
    pts = [pos.copy()]
    for _ in range(int(16.0 / p.step_mm)):
        rel = pos - (fx, fy)
        phi = sense * (np.arctan2(rel[1], rel[0]) - base)
        phi = (phi + 0.5 * np.pi) % (2 * np.pi) - 0.5 * np.pi
        if phi > p.arcade_end * np.pi:
            break
        target = guide(min(max(phi, 0.0) + 0.35, np.pi))  # a waypoint ahead on the path
        desired = np.arctan2(target[1] - pos[1], target[0] - pos[0])
        diff = (desired - heading + np.pi) % (2 * np.pi) - np.pi
        curl = 0.9 * curl + rng.normal(0.0, 0.012)
        heading += 0.15 * diff + curl
        pos = pos + p.step_mm * np.array([np.cos(heading), np.sin(heading)])
        pts.append(pos.copy())
        outside = pos[0] < x0 - pad or pos[0] > x1 + pad or pos[1] < y0 - pad or pos[1] > y1 + pad
        if outside and phi > np.pi / 3:
            break
    return np.asarray(pts)


def grow_vessel_tree(rng: np.random.Generator, anat: Anatomy, p: SynthParams) -> VesselTree:
    """Grow the retinal vessel forest: arcade trunks, branching walks, twigs, then radii.

    Returns a :class:`VesselTree` in mm with Murray's-law radii in um.
    """
    # ---- trunks: superior and inferior arcade, an artery and a vein each
    pts_list: list[np.ndarray] = []
    par_list: list[np.ndarray] = []
    kind_list: list[np.ndarray] = []
    ends: list[tuple[int, int]] = []
    n = 0
    for vertical in (-1, 1):
        # the artery and the vein of an arcade run apart, one often outside the field
        inner = rng.uniform(*p.arcade_mm)
        outer = inner + rng.uniform(*p.arcade_gap_mm)
        for kind, a_mid in enumerate((inner, outer) if rng.random() < 0.5 else (outer, inner)):
            trunk = _grow_trunk(rng, anat, vertical, a_mid, p)
            pts_list.append(trunk)
            par = np.arange(n - 1, n - 1 + len(trunk))
            par[0] = -1
            par_list.append(par)
            kind_list.append(np.full(len(trunk), kind))
            ends.append((n, n + len(trunk) - 1))
            n += len(trunk)
    pts = np.concatenate(pts_list)
    parent = np.concatenate(par_list)
    kind = np.concatenate(kind_list)

    pts, parent = _grow_branches(rng, anat, pts, parent, kind, p)
    pts, parent = _prune_twigs(pts, parent, max(1, round(p.min_twig_mm / p.step_mm)), protect=n)
    pts, parent = _sprout_twigs(rng, pts, parent, anat, p)  # appends: trunk indices stay
    pts = _smooth_chains(pts, parent, p.smooth_iterations)
    # veins (second of each pair) are wider than arteries
    roots = np.sort(rng.uniform(*p.trunk_radius_um, size=(2, 2)), axis=1).ravel()
    radius = _murray_radii(pts, parent, roots, ends, p.periphery, p.side_periphery, p.side_periphery_mm)
    return VesselTree(points=pts, parent=parent, radius=radius, start_radius=_start_radii(parent, radius))


def _start_radii(parent: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """For each node, the radius at the start of its vessel (see :class:`VesselTree`)."""
    n = len(parent)
    kids = np.flatnonzero(parent >= 0)
    widest = np.zeros(n)
    np.maximum.at(widest, parent[kids], radius[kids])
    main = np.zeros(n, dtype=bool)  # the node continues its parent's vessel
    main[kids] = radius[kids] >= widest[parent[kids]]
    start = radius.copy()
    par, rad = parent.tolist(), start.tolist()
    for i in kids.tolist():  # parents precede children
        if main[i]:
            rad[i] = rad[par[i]]
    start[:] = rad
    return start


def _grow_branches(
    rng: np.random.Generator,
    anat: Anatomy,
    pts: np.ndarray,
    parent: np.ndarray,
    kind: np.ndarray,
    p: SynthParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Grow branches from the trunks (N0 nodes, ``kind`` 0 artery / 1 vein) as forking walks.

    Branches (order 1) sprout along the trunks, most towards the fovea, some away from it.
    Every branch is a smooth walk that turns towards its radial direction (to or from the
    fovea, fixed when it starts) with a slowly varying curvature, so branches run nearly
    straight and converge on the fovea without looping. Every ``fork_interval_mm[k - 1]``
    on average a branch of order k forks: a side branch of order k + 1 leaves at
    ``min_branch_angle`` to ``max_branch_angle`` and the vessel turns a little the other
    way, or (``dichotomy``) the vessel splits into two of its order. Side branches live
    ``branch_length_mm`` long (order 1 branches run on). A branch stops ``spacing_mm``
    ahead of another vessel of its order or lower (so arteries and veins interdigitate;
    branches cross only the other kind's trunks), near the FAZ, or outside the growth
    area. Some trunk branches (``major_fraction``) split more often: they claim wider
    territories and so, by Murray's law, are wider. Nodes are appended, so parents
    precede children. Returns (points, parent).
    """
    step = p.step_mm
    x0, y0, x1, y1 = _growth_bounds(anat, p)
    fovea = np.asarray(anat.fovea, dtype=np.float64)
    # occupancy on a grid of cells of half the spacing: the id, order (trunks: 0) and kind
    # of the branch there
    cell = 0.5 * p.spacing_mm
    gw, gh = int(np.ceil((x1 - x0) / cell)) + 1, int(np.ceil((y1 - y0) / cell)) + 1
    grid = np.full((gh, gw), -1, dtype=np.int64)
    grid_order = np.zeros((gh, gw), dtype=np.int64)
    grid_kind = np.zeros((gh, gw), dtype=np.int64)

    def cells(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ix = np.clip(((q[:, 0] - x0) / cell).astype(np.int64), 0, gw - 1)
        iy = np.clip(((q[:, 1] - y0) / cell).astype(np.int64), 0, gh - 1)
        return iy, ix

    n0 = len(parent)
    iy, ix = cells(pts)
    grid[iy, ix], grid_kind[iy, ix] = -2, kind  # trunks: branch id -2, order 0
    # ---- sprouts along the trunks
    has = np.flatnonzero(parent >= 0)
    where = has[rng.random(len(has)) < step / p.sprout_interval_mm]
    tangent = pts[where] - pts[parent[where]]
    t_ang = np.arctan2(tangent[:, 1], tangent[:, 0])
    to_fovea = fovea - pts[where]
    cross = tangent[:, 0] * to_fovea[:, 1] - tangent[:, 1] * to_fovea[:, 0]
    inward = rng.random(len(where)) >= p.outward_fraction
    side = np.sign(cross + 1e-12) * np.where(inward, 1.0, -1.0)  # +: turn counter-clockwise
    heading = t_ang + side * rng.uniform(0.6, 1.3, len(where))
    tip_node = where.copy()
    tip_sense = np.where(inward, -1.0, 1.0)
    tip_kind = kind[where]
    tip_pos = pts[where].copy()
    m = len(where)
    tip_id = np.arange(m)
    tip_age = np.zeros(m, dtype=np.int64)
    tip_curl = np.zeros(m)
    n_orders = len(p.fork_interval_mm) + 1
    fork_mm = np.array([*p.fork_interval_mm, np.inf])  # per order - 1
    length_mm = np.array([(np.inf, np.inf), *p.branch_length_mm], dtype=np.float64)
    length_mm = length_mm[np.minimum(np.arange(n_orders), len(length_mm) - 1)]

    def next_fork(order: np.ndarray) -> np.ndarray:
        return p.min_fork_mm + fork_mm[order - 1] * rng.exponential(1.0, len(order))

    def lifetime(order: np.ndarray) -> np.ndarray:
        lo, hi = length_mm[order - 1, 0], length_mm[order - 1, 1]
        finite = np.isfinite(lo)
        out = np.full(len(order), np.inf)
        out[finite] = rng.uniform(lo[finite], hi[finite])
        return out

    tip_order = np.ones(m, dtype=np.int64)
    tip_fork = next_fork(tip_order)
    tip_left = lifetime(tip_order)
    tip_stop = rng.uniform(*p.faz_stop_mm, m)
    tip_dich = np.where(rng.random(m) < p.major_fraction, p.major_dichotomy, p.dichotomy)
    next_id = m
    grace = int(np.ceil(1.5 * p.spacing_mm / step)) + 1  # steps before a new branch is checked

    out_pts = [pts]
    out_par = [parent]
    n = n0
    look = np.array([0.0, -0.5, 0.5])  # lateral offsets (x spacing) of the cells checked ahead
    for _ in range(p.max_iterations):
        if len(tip_node) == 0:
            break
        # heading: turn towards the radial direction, plus a slowly varying curvature
        rel = tip_pos - fovea
        radial = np.arctan2(rel[:, 1], rel[:, 0]) + np.where(tip_sense < 0, np.pi, 0.0)
        diff = (radial - heading + np.pi) % (2 * np.pi) - np.pi
        tip_curl = p.curl_memory * tip_curl + rng.normal(0.0, p.curl_sd, len(heading))
        turn = np.clip(p.radial_pull * diff + tip_curl, -p.max_turn, p.max_turn)
        heading = heading + turn
        direc = np.stack([np.cos(heading), np.sin(heading)], axis=1)
        new_pos = tip_pos + step * direc
        # stop: outside, near the FAZ, or running into another vessel of the same kind
        alive = (new_pos[:, 0] > x0) & (new_pos[:, 0] < x1) & (new_pos[:, 1] > y0)
        alive &= new_pos[:, 1] < y1
        alive &= anat.faz_distance(new_pos[:, 0], new_pos[:, 1]) > tip_stop
        alive &= tip_left > 0
        checked = tip_age >= grace
        normal = np.stack([-direc[:, 1], direc[:, 0]], axis=1)
        for lat in look:
            q = new_pos + p.spacing_mm * (direc + lat * normal)
            c = cells(q)
            owner, o_order = grid[c], grid_order[c]
            # a branch yields to vessels of its order or lower (arteries and veins
            # interdigitate), but crosses the other kind's trunks
            blocks = (owner != -1) & (owner != tip_id) & (o_order <= tip_order)
            blocks &= (grid_kind[c] == tip_kind) | (o_order > 0)
            alive &= ~(checked & blocks)
        keep = np.flatnonzero(alive)
        tip_node, tip_pos, heading = tip_node[keep], new_pos[keep], heading[keep]
        tip_sense, tip_kind, tip_id = tip_sense[keep], tip_kind[keep], tip_id[keep]
        tip_age, tip_curl, tip_fork = tip_age[keep] + 1, tip_curl[keep], tip_fork[keep] - step
        tip_stop, tip_order, tip_left = tip_stop[keep], tip_order[keep], tip_left[keep] - step
        tip_dich = tip_dich[keep]
        k = len(keep)
        if k == 0:
            break
        new = np.arange(n, n + k)
        out_pts.append(tip_pos.copy())
        out_par.append(tip_node.copy())
        n += k
        tip_node = new
        c = cells(tip_pos)
        grid[c], grid_order[c], grid_kind[c] = tip_id, tip_order, tip_kind
        # forks: a side branch leaves, the vessel turns a little the other way
        fork = np.flatnonzero(tip_fork <= 0)
        if len(fork):
            f = len(fork)
            sgn = rng.choice([-1.0, 1.0], f)
            # a dichotomy splits a vessel into two of its order, symmetrically; otherwise a
            # side branch of the next order leaves and the vessel turns a little away
            split = rng.random(f) < tip_dich[fork]
            angle = rng.uniform(p.min_branch_angle, p.max_branch_angle, f)
            bend = np.where(split, 0.5 * angle, rng.uniform(0.0, p.fork_deflection, f))
            side_heading = heading[fork] + sgn * np.where(split, 0.5 * angle, angle)
            heading[fork] -= sgn * bend
            tip_fork[fork] = next_fork(tip_order[fork])
            side_order = tip_order[fork] + (~split).astype(np.int64)
            side_left = np.where(split, tip_left[fork], lifetime(side_order))
            d = np.stack([np.cos(side_heading), np.sin(side_heading)], axis=1)
            radial_dot = np.sum((tip_pos[fork] - fovea) * d, axis=1)
            radial_dot /= np.maximum(np.linalg.norm(tip_pos[fork] - fovea, axis=1), 1e-9)
            side_sense = np.where(np.abs(radial_dot) > 0.3, np.sign(radial_dot), tip_sense[fork])
            tip_node = np.concatenate([tip_node, tip_node[fork]])
            tip_pos = np.concatenate([tip_pos, tip_pos[fork]])
            heading = np.concatenate([heading, side_heading])
            tip_sense = np.concatenate([tip_sense, side_sense])
            tip_kind = np.concatenate([tip_kind, tip_kind[fork]])
            tip_id = np.concatenate([tip_id, np.arange(next_id, next_id + f)])
            next_id += f
            tip_age = np.concatenate([tip_age, np.zeros(f, dtype=np.int64)])
            tip_curl = np.concatenate([tip_curl, np.zeros(f)])
            tip_fork = np.concatenate([tip_fork, next_fork(side_order)])
            tip_stop = np.concatenate([tip_stop, rng.uniform(*p.faz_stop_mm, f)])
            tip_dich = np.concatenate([tip_dich, np.where(split, tip_dich[fork], p.dichotomy)])
            tip_order = np.concatenate([tip_order, side_order])
            tip_left = np.concatenate([tip_left, side_left])
    return np.concatenate(out_pts), np.concatenate(out_par)


def _sprout_twigs(
    rng: np.random.Generator,
    pts: np.ndarray,
    parent: np.ndarray,
    anat: Anatomy,
    p: SynthParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Add short, thin side twigs (pre-capillary arterioles and venules) along the vessels.

    Every ``twig_interval_mm`` on average a twig leaves a vessel at 35-75 degrees and
    grows as a smooth random walk for ``twig_length_mm``, stopping short of the FAZ. They
    are appended step by step, so parents still precede children. Returns (points, parent).
    """
    n = len(parent)
    has = np.flatnonzero(parent >= 0)
    w_mm, h_mm = anat.size_mm
    x, y = pts[has, 0], pts[has, 1]
    inside = (x > -0.1) & (x < w_mm + 0.1) & (y > -0.1) & (y < h_mm + 0.1)
    inside &= anat.faz_distance(x, y) > 0.1
    base = has[inside & (rng.random(len(has)) < p.step_mm / p.twig_interval_mm)]
    if len(base) == 0:
        return pts, parent
    d = pts[base] - pts[parent[base]]
    heading = np.arctan2(d[:, 1], d[:, 0])
    heading += rng.choice([-1.0, 1.0], len(base)) * rng.uniform(0.6, 1.3, len(base))
    step = p.twig_step_mm
    steps = np.maximum(1, np.round(rng.uniform(*p.twig_length_mm, len(base)) / step)).astype(int)
    curl = rng.normal(0.0, p.twig_curl_sd, len(base))  # each twig bends steadily one way
    new_pts, new_par = [pts], [parent]
    prev, pos = base, pts[base].copy()
    alive = np.ones(len(base), dtype=bool)
    for k in range(int(steps.max())):
        heading += curl + rng.normal(0.0, 0.05, len(base))
        pos = pos + step * np.stack([np.cos(heading), np.sin(heading)], axis=1)
        alive &= (k < steps) & (anat.faz_distance(pos[:, 0], pos[:, 1]) > 0.03)
        if not alive.any():
            break
        ids = np.arange(n, n + int(alive.sum()))
        new_pts.append(pos[alive])
        new_par.append(prev[alive])
        nxt = prev.copy()
        nxt[alive] = ids
        prev = nxt
        n += len(ids)
    return np.concatenate(new_pts), np.concatenate(new_par)


def _prune_twigs(
    pts: np.ndarray,
    parent: np.ndarray,
    min_nodes: int,
    protect: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove terminal branches of fewer than ``min_nodes`` nodes that leave a branch point
    (the first ``protect`` nodes stay).

    Returns (points, parent) re-indexed; parents still precede children.
    """
    n = len(parent)
    nchild = np.bincount(parent[parent >= 0], minlength=n)
    keep = np.ones(n, dtype=bool)
    for leaf in np.flatnonzero(nchild == 0):
        chain = [leaf]
        j = parent[leaf]
        while j >= 0 and nchild[j] == 1 and len(chain) < min_nodes:
            chain.append(j)
            j = parent[j]
        if j >= 0 and nchild[j] >= 2 and len(chain) < min_nodes and chain[-1] >= protect:
            keep[chain] = False
            nchild[j] -= 1
    new_index = np.cumsum(keep) - 1
    par = parent[keep]
    par = np.where(par >= 0, new_index[np.maximum(par, 0)], -1)
    return pts[keep], par


def _murray_radii(
    points: np.ndarray,
    parent: np.ndarray,
    root_radius_um: np.ndarray,
    trunks: list[tuple[int, int]] = (),
    periphery: float = 0.0,
    side_periphery: float = 0.0,
    side_mm: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Radii (um) by Murray's law with flow that leaks into capillaries along each vessel.

    The flow entering a segment is proportional to the vessel length it feeds (the
    segment and everything downstream) and ``r**3`` is proportional to that flow. Flows add
    up at every fork, so ``r_parent**3 == r_1**3 + r_2**3`` there up to what the parent's
    own segment (one growth step) leaks, about 1% at a typical fork; along a vessel the
    radius tapers towards fine tips. Each tree is scaled so that its root segment gets its
    entry of ``root_radius_um`` (one per root, in the order of the roots' indices).

    ``trunks`` lists (first, last) node of chains (nodes first..last) that also feed the
    periphery beyond the grown area, as unseen branches: ``periphery`` times what their
    tree feeds here through their last node, and ``side_periphery`` times that spread
    evenly over the stretch ``side_mm`` (mm along the trunk from its root), where the
    arcades give off their large peripheral branches. So a trunk stays wide, tapers most
    near the disc, and its macular branches are thinner beside it.
    """
    n = len(parent)
    has = parent >= 0
    seg = np.zeros(n)
    seg[has] = np.linalg.norm(points[has] - points[parent[has]], axis=1)
    fed = seg.copy()  # length fed by the segment from node i to its parent
    root = np.arange(n)
    for i in range(n):  # parents precede children
        if parent[i] >= 0:
            root[i] = root[parent[i]]
    for i in range(n - 1, -1, -1):
        j = parent[i]
        if j >= 0:
            fed[j] += fed[i]
    for first, last in trunks:
        own = fed[first]
        along = np.concatenate([[0.0], np.cumsum(seg[first + 1 : last + 1])])  # mm from the root
        lo, hi = side_mm
        ahead = np.clip(hi - np.maximum(along, lo), 0.0, None)  # side stretch still ahead
        side = side_periphery * own * ahead / max(hi - lo, 1e-9)
        fed[first : last + 1] += periphery * own + side
    roots = np.flatnonzero(~has)
    scale = np.zeros(n)
    scale[roots] = np.asarray(root_radius_um, dtype=np.float64)[: len(roots)] ** 3 / np.maximum(
        fed[roots], 1e-12
    )
    return np.cbrt(scale[root] * fed)


def _smooth_chains(pts: np.ndarray, parent: np.ndarray, iterations: int) -> np.ndarray:
    """Laplacian smoothing of nodes with one parent and one child; ends and forks stay."""
    n = len(parent)
    nchild = np.bincount(parent[parent >= 0], minlength=n)
    only_child = np.full(n, -1, dtype=np.int64)
    kids = np.flatnonzero(parent >= 0)
    only_child[parent[kids]] = kids  # any child; used only where there is exactly one
    inner = np.flatnonzero((parent >= 0) & (nchild == 1))
    out = pts.copy()
    for _ in range(iterations):
        out[inner] = 0.5 * out[inner] + 0.25 * (out[parent[inner]] + out[only_child[inner]])
    return out


# =========================================================================== en-face rendering


@dataclass(frozen=True)
class EnFace:
    """En-face maps of one subject, float32 (scans, width) in the scan frame.

    The anatomy maps (vessels, labels, plexuses, choroid) are already moved by the eye's
    motion (:class:`Motion`); the artefact maps (gain, whiteout, floaters) are not.

    Attributes:
        vessel: coverage in [0, 1] of tree vessels (labelled or not).
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
    """

    vessel: np.ndarray
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


def render_vessels(
    tree: VesselTree,
    anat: Anatomy,
    labelled: np.ndarray,
    min_label_px: float = 2.0,
    psf_um: float = 0.0,
    supersample: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize the tree onto the (scans, width) grid with anti-aliasing.

    Segments are drawn as thick lines on a ``supersample``-times finer canvas, thickest
    last, and area-averaged down; a vessel shows as wide as its diameter and the device's
    lateral resolution ``psf_um`` together (root of the sum of squares). Returns float32
    coverage in [0, 1], float32 mean radius (um) of the covering vessels, and the bool
    label (coverage at least one half by the ``labelled`` segments, bool per node, drawn at
    least ``min_label_px`` wide).
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
    thick_label = np.maximum(min_label, np.round(2.0 * r_um / 1000.0 * scale) - 1).astype(np.int64)
    um_per_code = 0.5  # radius code: 0.5 um per step, up to 127 um
    code = np.clip(np.round(r_um / um_per_code), 1, 255).astype(np.int64)
    radius_canvas = np.zeros((h, w), np.uint8)
    label_canvas = np.zeros((h, w), np.uint8)
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
    size = (anat.width, anat.scans)
    cover = cv2.resize((radius_canvas > 0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    rsum = cv2.resize(radius_canvas.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    radius = np.where(cover > 0, rsum * um_per_code / np.maximum(cover, 1e-6), 0.0)
    label = cv2.resize(label_canvas, size, interpolation=cv2.INTER_AREA) >= 128
    return cover, radius.astype(np.float32), label


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> np.ndarray:
    """Gaussian-filtered white noise, float32 (shape), zero mean, unit s.d."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    if sigma_px > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)
    noise -= noise.mean()
    return noise / max(float(noise.std()), 1e-6)


def capillary_plexus(
    rng: np.random.Generator,
    shape: tuple[int, int],
    px_per_mm: float,
    scale_mm: float,
    line_width: float,
) -> np.ndarray:
    """A capillary mesh: thin curved lines along the zero set of band-pass noise.

    The zero set of a band-pass Gaussian random field is a network of closed, branching
    curves whose spacing is set by ``scale_mm``; ``exp(-(f / line_width)**2)`` turns it
    into lines about one capillary wide. Returns float32 (shape) in [0, 1].
    """
    s1 = max(scale_mm * px_per_mm, 0.5)
    noise = rng.standard_normal(shape, dtype=np.float32)
    fine = cv2.GaussianBlur(noise, (0, 0), s1, borderType=cv2.BORDER_REFLECT)
    coarse = cv2.GaussianBlur(noise, (0, 0), 2.0 * s1, borderType=cv2.BORDER_REFLECT)
    band = fine - coarse
    band /= max(float(band.std()), 1e-6)
    np.multiply(band, 1.0 / line_width, out=band)
    np.square(band, out=band)
    np.negative(band, out=band)
    mesh = np.exp(band)
    # the device's lateral resolution (~ 20 um) blurs capillaries over neighbouring pixels
    blur = 0.008 * px_per_mm
    if blur > 0.3:
        mesh = cv2.GaussianBlur(mesh, (0, 0), blur, borderType=cv2.BORDER_REFLECT)
    return mesh


def label_threshold(
    tree: VesselTree,
    anat: Anatomy,
    target_fraction: float,
    bounds_um: tuple[float, float],
    fade: float,
    min_width_mm: float,
) -> float:
    """The radius (um) from which the labelled vessels cover about ``target_fraction``.

    Models how far down the tree an annotator goes (see :meth:`VesselTree.labelled`).
    Areas are estimated from segment lengths and drawn widths (at least ``min_width_mm``)
    inside the field, overlaps ignored; the radius is found by bisection within
    ``bounds_um``.
    """
    child = np.flatnonzero(tree.parent >= 0)
    a, b = tree.points[child], tree.points[tree.parent[child]]
    w_mm, h_mm = anat.size_mm
    mid = 0.5 * (a + b)
    inside = (mid[:, 0] >= 0) & (mid[:, 0] < w_mm) & (mid[:, 1] >= 0) & (mid[:, 1] < h_mm)
    child = child[inside]
    r, r0 = tree.radius[child], tree.start_radius[child]
    area = np.linalg.norm(a - b, axis=1)[inside] * np.maximum(2.0 * r / 1000.0, min_width_mm)
    goal = target_fraction * w_mm * h_mm
    lo, hi = bounds_um
    for _ in range(24):  # the labelled area only shrinks as the radius grows
        mid_r = 0.5 * (lo + hi)
        got = area[(r >= mid_r) | ((r >= fade * mid_r) & (r0 >= mid_r))].sum()
        lo, hi = (mid_r, hi) if got > goal else (lo, mid_r)
    return 0.5 * (lo + hi)


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
    wobble = _smooth_noise(rng, shape, 0.05 * anat.px_per_mm)
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


def render_enface(
    rng: np.random.Generator,
    anat: Anatomy,
    tree: VesselTree,
    p: SynthParams,
) -> EnFace:
    """All en-face maps of a subject (see :class:`EnFace`), artefacts included."""
    shape = (anat.scans, anat.width)
    target = rng.uniform(*p.label_fraction)
    # annotators draw vessels at least ~ 25 um (1.6 px at 6 mm, 2 px at 3 mm) and 1 px wide
    min_label_px = float(np.clip(p.min_label_um / 1000.0 * anat.px_per_mm, 1.0, 2.0))
    min_width_mm = min_label_px / anat.px_per_mm
    thr = label_threshold(tree, anat, target, p.label_radius_um, p.label_fade, min_width_mm)
    labelled = tree.labelled(thr, p.label_fade)
    vessel, radius, label = render_vessels(tree, anat, labelled, min_label_px, p.psf_um)
    got = float(label.mean())
    if got > 0 and abs(got / target - 1.0) > 0.1:  # overlaps and clipping: aim once more
        aim = target * float(np.clip(target / got, 0.5, 2.0))
        thr = label_threshold(tree, anat, aim, p.label_radius_um, p.label_fade, min_width_mm)
        labelled = tree.labelled(thr, p.label_fade)
        vessel, radius, label = render_vessels(tree, anat, labelled, min_label_px, p.psf_um)

    # FAZ: no capillaries inside its irregular boundary, sparser ones just outside
    yy, xx = np.mgrid[0 : anat.scans, 0 : anat.width].astype(np.float64)
    xs, ys = (xx + 0.5) / anat.px_per_mm, (yy + 0.5) / anat.px_per_mm
    dist = anat.faz_distance(xs, ys)
    faz_mask = dist < 0.0
    ramp = np.clip(dist / 0.03 + 0.5, 0.0, 1.0) * np.clip(0.5 + dist / p.parafovea_mm, 0.0, 1.0)
    free = ramp.astype(np.float32) * (1.0 - vessel)  # capillaries neither in the FAZ nor under vessels
    scales = p.capillary_scale_mm * np.array([1.0, 0.9, 1.1])  # superficial, intermediate, deep
    width = p.capillary_line_width
    svp, icp, dcp = (capillary_plexus(rng, shape, anat.px_per_mm, s, width) * free for s in scales)
    capillary = ((svp > 0.5) | (dcp > 0.5) | (vessel > 0.5)) & ~label & ~faz_mask

    choroid = np.exp(p.choroid_texture_sd * _smooth_noise(rng, shape, 0.03 * anat.px_per_mm))
    choroid /= choroid.mean()

    # ---- artefacts: low-frequency brightness, dim / bright / shifted / stretched B-scans
    gain = np.exp(p.brightness_sd * _smooth_noise(rng, shape, 0.22 * anat.width))
    # each A-scan's signal fluctuates a little (survives the projection as grain)
    gain *= np.exp(p.ascan_noise_sd * rng.standard_normal(shape, dtype=np.float32))
    gain = (gain / gain.mean()).astype(np.float32)
    whiteout = np.zeros(shape, np.float32)
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
            gain[s0 : s0 + n] *= rng.uniform(0.35, 0.75)
        elif kind == 2:  # shift: the eye moved sideways for a while
            n = int(rng.integers(3, max(4, anat.scans // 12)))
            shift[s0 : s0 + n] += int(rng.choice([-1, 1]) * rng.integers(1, 4))
        else:  # stretch: the eye drifted with the scan, then the tracker jumped back
            n = int(rng.integers(4, max(5, anat.scans // 15)))
            rate = rng.uniform(0.65, 0.9)
            run = src[s0] + np.floor(np.arange(len(src[s0 : s0 + n])) * rate).astype(np.int64)
            src[s0 : s0 + n] = run
    motion = Motion(src=np.clip(src, 0, anat.scans - 1), shift=shift)
    floater = _floaters(rng, anat, p)
    gain *= 1.0 - p.floater_shadow * floater  # floaters shadow everything below them
    weak = rng.random() < p.low_signal_probability
    signal = float(rng.uniform(*p.low_signal)) if weak else 1.0
    noise_gain = float(rng.uniform(*p.low_signal_noise)) if weak else 1.0

    warp = motion.warp
    return EnFace(
        vessel=warp(vessel),
        vessel_radius_um=warp(radius),
        label=warp(label),
        faz=warp(faz_mask),
        capillary=warp(capillary),
        svp=warp(svp),
        icp=warp(icp),
        dcp=warp(dcp),
        choroid=warp(choroid.astype(np.float32)),
        gain=gain.astype(np.float32),
        whiteout=whiteout,
        floater=floater,
        signal=signal,
        noise_gain=noise_gain,
        label_radius_um=thr,
        motion=motion,
    )


# =========================================================================== volume


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
    undulate = 3.0 * _smooth_noise(rng, shape, 0.15 * anat.width)
    shape_rows = tilt[0] * u + tilt[1] * v - bow * (u * u + v * v) + undulate
    shape_rows -= shape_rows.mean()

    dx = (xx + 0.5) / anat.px_per_mm - anat.fovea[0]
    r2 = dx**2 + ((yy + 0.5) / anat.px_per_mm - anat.fovea[1]) ** 2
    pit_width = rng.uniform(0.45, 0.65)  # mm
    pit = rng.uniform(*p.pit_rows) * np.exp(-r2 / pit_width**2)
    thick0 = rng.uniform(*p.thickness_rows)
    thickness = thick0 + 5.0 * _smooth_noise(rng, shape, 0.2 * anat.width) - pit
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
    full = max(p.vessel_full_radius_um, p.label_contrast * ef.label_radius_um)
    v_amp = p.vessel_flow * ef.vessel * g
    bright = np.clip(ef.vessel_radius_um / full, 0.35, 1.0) ** 1.5
    v_amp *= np.where(ef.label, np.maximum(bright, p.label_boost), bright)
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
            np.multiply(inv, np.float32(d), out=tmp)  # row * inv
            np.subtract(tmp, pos_inv, out=tmp)  # (row - pos) / half
            if s.kind == "tent":
                np.abs(tmp, out=tmp)
                np.subtract(np.float32(1.0), tmp, out=tmp)
                if s.flat != 1.0:
                    np.multiply(tmp, np.float32(s.flat), out=tmp)
                np.clip(tmp, 0.0, 1.0, out=tmp)
            else:
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


# =========================================================================== subjects


def default_field_mm(scans: int, width: int) -> float:
    """Field of view (mm) implied by an en-face size: 3 for OCTA-500's 304 x 304, else 6."""
    return 3.0 if (scans, width) == FOV_GEOMETRY["3mm"][::2] else 6.0


def generate_subject(
    subject_id: int,
    seed: int = 0,
    scans: int = 400,
    depth: int = 640,
    width: int = 400,
    *,
    field_mm: float | None = None,
    params: SynthParams = DEFAULT_PARAMS,
) -> SyntheticSubject:
    """Generate one synthetic subject, deterministic in ``(seed, subject_id)``.

    Args:
        subject_id: non-negative id; with ``seed`` it seeds the generator.
        seed: non-negative dataset seed.
        scans, depth, width: volume geometry; the OCTA-500 6mm default is 400 x 640 x 400.
            En-face sizes below 32 and depths below 64 are refused. Small sizes render the
            same anatomy coarser: labelled vessels stay at least 1 px wide, so at 64 x 64
            the label covers ~20% instead of ~9%.
        field_mm: en-face field of view; None: 3 mm for 304 x 304, else 6 mm.
        params: generator knobs.

    Returns:
        :class:`SyntheticSubject` with ``octa`` and ``oct`` uint8 (scans, depth, width),
        ``label``, ``faz`` and ``capillary`` uint8 (scans, width) of 0/255 in the scan
        frame, and the six ``layers`` surfaces.
    """
    for name, value, least in (
        ("scans", scans, _MIN_WIDTH),
        ("width", width, _MIN_WIDTH),
        ("depth", depth, _MIN_DEPTH),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    for name, value in (("subject_id", subject_id), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    if field_mm is None:
        field_mm = default_field_mm(scans, width)
    if not 0.5 <= field_mm <= 20.0:
        raise ValueError(f"field_mm must be within 0.5 and 20 mm, got {field_mm!r}")
    rng = np.random.default_rng([int(seed), int(subject_id)])
    anat = sample_anatomy(rng, int(scans), int(width), float(field_mm), params)
    tree = grow_vessel_tree(rng, anat, params)
    ef = render_enface(rng, anat, tree, params)
    surf = retina_surfaces(rng, anat, int(depth), params).warp(ef.motion)
    octa = render_volume(rng, ef, surf, int(depth), params)
    oct_volume = render_oct(rng, ef, surf, int(depth), params)
    mask = lambda m: np.where(m, 255, 0).astype(np.uint8)  # noqa: E731
    return SyntheticSubject(
        subject_id=int(subject_id),
        octa=octa,
        label=mask(ef.label),
        oct=oct_volume,
        faz=mask(ef.faz),
        capillary=mask(ef.capillary),
        layers=surf.octa500(),
    )


def _write_bscans(folder: Path, volume: np.ndarray) -> None:
    """Write ``volume[s]`` as ``folder/{s + 1}.bmp``, all or nothing: into a temporary
    folder (its name starts with a dot: dataset scans skip it) renamed into place, which
    replaces an old folder whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    tmp = folder.with_name(f".{folder.name}.tmp-{pid}")
    old = folder.with_name(f".{folder.name}.old-{pid}")
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir()
    try:
        for s in range(volume.shape[0]):
            path = tmp / f"{s + 1}.bmp"
            if not cv2.imwrite(str(path), volume[s]):
                raise OSError(f"cv2.imwrite failed for {path}")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def official_maps(subject: SyntheticSubject) -> dict[str, np.ndarray]:
    """OCTA-500-style projection maps of a subject: map folder (``OCTA(FULL)``, ...) ->
    uint8 (scans, width) in the scan frame, each projected as
    :data:`octaseg.projection.MAP_REDUCTIONS` says (slabs between the subject's own
    surfaces) and contrast-stretched to 8 bits (:func:`octaseg.enhance.stretch_contrast`;
    linear for OCT, whose maps are bright already). OCT maps only where the subject has
    an OCT volume."""
    from octaseg.enhance import stretch_contrast
    from octaseg.layers import SLABS
    from octaseg.projection import MAP_REDUCTIONS, project

    if subject.layers is None:
        raise ValueError(f"subject {subject.subject_id} has no layer surfaces: slab maps need them")
    maps = {}
    for (modality, slab), reduce in MAP_REDUCTIONS.items():
        volume = subject.octa if modality == "OCTA" else subject.oct
        if volume is None:
            continue
        bounds = SLABS[slab]
        top, bottom = (subject.layers[b] for b in bounds) if bounds else (None, None)
        gamma = 0.6 if modality == "OCTA" else 1.0
        maps[f"{modality}({slab})"] = stretch_contrast(project(volume, reduce, top, bottom), gamma=gamma)
    return maps


def write_subject(
    root: str | Path, subject: SyntheticSubject, fov: str = "6mm", orientation: str = "flipud"
) -> None:
    """Write a subject in the OCTA-500 layout under ``root``.

    ``root/OCTA_{fov}/OCTA/{id}/1.bmp .. {scans}.bmp`` and ``root/OCTA_{fov}/OCT/{id}/...``
    (B-scan ``s`` is file ``s + 1``, 8-bit grayscale depth x width),
    ``root/Label/GT_LargeVessel/{id}.bmp`` and, where the subject has them,
    ``root/Label/GT_FAZ/{id}.bmp`` and ``root/Label/GT_Capillary/{id}.bmp``, the en-face
    masks oriented by ``orientation`` (see :func:`octaseg.projection.orient`). With layer
    surfaces also ``root/Label/GT_Layers/{id}.mat`` (in the volume's frame, as OCTA-500's)
    and the official-style maps ``root/OCTA_{fov}/Projection Maps/OCTA(FULL)/{id}.bmp``
    etc. (:func:`official_maps`, oriented like the labels). Everything is written under
    temporary names and renamed into place, the OCTA B-scans and then the large-vessel
    label last, so no half-written subject looks done.
    """
    from octaseg.layers import write_gt_layers
    from octaseg.layout import layers_path, map_path

    if fov not in FOV_GEOMETRY:
        raise ValueError(f"unknown field of view {fov!r}; expected one of {sorted(FOV_GEOMETRY)}")
    octa, label = subject.octa, subject.label
    if octa.ndim != 3 or octa.dtype != np.uint8:
        raise ValueError(f"octa must be uint8 (scans, depth, width), got {octa.dtype} {octa.shape}")
    enface = (octa.shape[0], octa.shape[2])
    masks = {"GT_FAZ": subject.faz, "GT_Capillary": subject.capillary}
    for name, m in {"label": label, **masks}.items():
        if m is not None and (m.shape != enface or m.dtype != np.uint8):
            raise ValueError(f"{name} must be uint8 (scans, width) = {enface}, got {m.dtype} {m.shape}")
    if subject.oct is not None and (subject.oct.shape != octa.shape or subject.oct.dtype != np.uint8):
        raise ValueError(
            f"oct must be uint8 of the octa's shape {octa.shape}, got {subject.oct.dtype} {subject.oct.shape}"
        )
    for name, surface in (subject.layers or {}).items():
        if np.shape(surface) != enface:
            raise ValueError(
                f"layer surface {name} must be (scans, width) = {enface}, got {np.shape(surface)}"
            )
    oriented = orient(label, orientation)  # fails early on a bad name
    root = Path(root)
    sid = subject.subject_id
    if subject.oct is not None:
        _write_bscans(root / f"OCTA_{fov}" / "OCT" / str(sid), subject.oct)
    for name, m in masks.items():
        if m is not None:
            write_image(root / "Label" / name / f"{sid}.bmp", orient(m, orientation))
    if subject.layers is not None:
        write_gt_layers(layers_path(root, sid), subject.layers)
        for folder, image in official_maps(subject).items():
            write_image(map_path(root, fov, folder, sid), orient(image, orientation))
    _write_bscans(root / f"OCTA_{fov}" / "OCTA" / str(sid), octa)
    write_image(root / "Label" / "GT_LargeVessel" / f"{sid}.bmp", oriented)
