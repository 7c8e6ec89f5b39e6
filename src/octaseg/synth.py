"""Synthetic OCTA-500: volumes of B-scans and large-vessel labels, grown rather than drawn.

A subject is made in stages, each a pure function of one seeded generator
(``np.random.default_rng([seed, subject_id])``):

1. **Anatomy** (:func:`sample_anatomy`): fovea near the field centre, an irregular foveal
   avascular zone (FAZ) whose size varies per subject, the optic disc just outside the
   field on the nasal side (left or right eye).
2. **Vessel tree** (:func:`grow_vessel_tree`): four arcade trunks (superior / inferior,
   artery / vein) grow from the disc as random walks attracted to a path around the
   fovea; branches grow from them by space colonization towards attraction points spread
   over the field (denser near the fovea, none in the FAZ); short thin twigs sprout along
   the vessels. Radii follow Murray's law, ``r_parent**3 == r_1**3 + r_2**3`` at every
   fork (up to one step of leakage), with flow proportional to the vessel length fed, so
   vessels taper to fine tips.
3. **En-face maps** (:func:`render_enface`): the tree rasterized with anti-aliasing; the
   label is the vessels above a radius threshold chosen per subject so that about 9% of
   the field is labelled (how far down the tree an annotator goes); thinner vessels are
   visible but unlabelled. Capillary meshes (iso-lines of band-pass noise) of three
   plexuses fill the field outside the FAZ. Artefacts: a low-frequency brightness field,
   A-scan gain noise, dim, bright and laterally shifted B-scans (motion).
4. **Volume** (:func:`render_volume`): a retinal band (ILM to BM ~ 104-120 rows, thinner in
   the foveal pit, tilted and bowed) with its ILM near row 243 of 640; flow signal in
   slabs: large vessels under the ILM with a projection tail below them, superficial,
   intermediate and deep capillary plexuses, a projection artefact at the RPE, choroidal
   flow under the BM, static-tissue noise; gamma speckle; a noise floor subtracted and
   the result clipped near 85, so that ~81% of voxels are exactly 0 as in OCTA-500.

En-face lengths are in mm (the field is 6 mm, or 3 mm for the 304 x 304 geometry),
depth lengths in rows of a 640-row B-scan scaled by ``depth / 640``, so any geometry
(tests use 64 x 96 x 64) renders the same anatomy. The volume is filled one depth row
at a time, vectorized over the en-face plane, only over the rows that carry signal.

Frames: the volume is ``V[scan, depth, x]``; en-face maps and the label are in the scan
frame ``[scan, x]`` (row = B-scan, column = x), so the label matches the mean projection
over depth. :func:`write_subject` orients the label as OCTA-500 does (6mm: ``flipud``).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

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
    """

    subject_id: int
    octa: np.ndarray
    label: np.ndarray


@dataclass(frozen=True)
class SynthParams:
    """Knobs of the generator. Defaults are calibrated against OCTA-500 6mm statistics.

    En-face lengths are in mm or um, depth lengths in rows of a 640-row B-scan.
    """

    # --- anatomy
    faz_radius_mm: tuple[float, float] = (0.2, 0.38)  # FAZ mean radius range
    parafovea_mm: float = 0.6  # capillary density ramps up over this distance from the FAZ
    fovea_jitter_mm: float = 0.15  # s.d. of the fovea's offset from the field centre
    disc_distance_mm: tuple[float, float] = (3.6, 4.2)  # disc centre to fovea
    # --- vessel growth (space colonization)
    step_mm: float = 0.045  # growth step
    margin_mm: float = 0.3  # attraction points extend this far beyond the field
    attractor_density: float = 16.0  # attraction points per mm^2, far from the fovea
    macular_density_gain: float = 1.5  # extra density at the fovea, relative
    macular_radius_mm: float = 1.5  # over this radius (Gaussian)
    influence_mm: float = 1.0  # a node attracts points within this distance
    kill_mm: float = 0.13  # points this close to a node are reached and removed
    inertia: float = 2.0  # weight of a tip's previous heading against the attraction
    radial_bias: float = 0.8  # weight of the radial direction (to/from the fovea) for tips
    jitter: float = 0.025  # s.d. of the random heading perturbation per step, radians
    cone_cos: float = 0.5  # a tip sees points within arccos(cone_cos) of its heading
    max_turn: float = 0.05  # largest change of a tip's heading per step, radians
    min_branch_angle: float = 0.35  # a side branch leaves its vessel at this angle or more
    max_branch_angle: float = 0.8  # and at this angle or less, radians
    branch_spacing_mm: float = 0.2  # least distance along a vessel between branch points
    branch_interval_mm: float = 0.2  # mean distance between nodes allowed to branch
    trunk_branch_interval_mm: float = 0.5  # the same along arcade trunks
    arcade_end: float = 0.75  # arcade trunks stop at this fraction of a half turn
    max_iterations: int = 400
    min_twig_mm: float = 0.15  # shorter terminal side branches are pruned
    smooth_iterations: int = 4  # Laplacian smoothing of the grown vessels
    twig_interval_mm: float = 0.25  # mean distance along vessels between thin side twigs
    twig_length_mm: tuple[float, float] = (0.08, 0.45)
    twig_step_mm: float = 0.03
    # --- radii (Murray's law)
    trunk_radius_um: tuple[float, float] = (30.0, 48.0)  # radius at the disc, per trunk
    label_fraction: tuple[float, float] = (0.065, 0.095)  # labelled area, per subject
    label_radius_um: tuple[float, float] = (8.0, 24.0)  # bounds of the label threshold
    min_label_um: float = 30.0  # labelled vessels are drawn at least this wide (1-2 px)
    # --- capillaries
    capillary_scale_mm: float = 0.013  # band-pass noise scale (mesh spacing ~ 3x this)
    capillary_line_width: float = 0.4  # iso-line half-width, in units of the noise s.d.
    # --- retina (rows of a 640-row B-scan)
    ilm_row: float = 243.0
    thickness_rows: tuple[float, float] = (104.0, 120.0)  # ILM to BM away from the fovea
    pit_rows: tuple[float, float] = (18.0, 30.0)  # foveal pit depth
    tilt_rows: float = 20.0  # s.d. of the band's tilt across the field
    choroid_rows: float = 55.0
    # --- intensity (OCTA decorrelation, 8-bit)
    vessel_flow: float = 70.0
    vessel_full_radius_um: float = 10.0  # thinner vessels are dimmer...
    label_contrast: float = 1.0  # ... and so are those thinner than this x label radius
    vessel_axial_factor: float = 0.35  # axial half-extent of the flow signal / radius
    vessel_min_half_rows: float = 4.0  # least axial half-extent of a vessel's flow signal
    tail_gain: float = 0.4  # projection tail below large vessels, fraction of their flow
    rpe_gain: float = 0.2  # projection artefact at the RPE
    svp_flow: float = 65.0
    icp_flow: float = 40.0
    dcp_flow: float = 50.0
    choroid_flow: float = 17.0
    choroid_texture_sd: float = 0.2  # s.d. of the log choroidal flow texture
    tissue_flow: float = 4.0  # baseline decorrelation of static tissue in the band
    speckle_shape: float = 2.8  # gamma shape of the multiplicative speckle (mean 1)
    noise_floor: float = 2.4  # subtracted before quantization: most noise becomes 0
    saturation: tuple[float, float] = (80.0, 90.0)  # per-subject clip level
    # --- artefacts
    brightness_sd: float = 0.18  # s.d. of the log low-frequency multiplicative field
    ascan_noise_sd: float = 0.12  # s.d. of the log gain of single A-scans
    stripes: tuple[int, int] = (0, 4)  # number of motion stripes (min, max inclusive)


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
    """

    points: np.ndarray
    parent: np.ndarray
    radius: np.ndarray


def _grow_trunk(
    rng: np.random.Generator, anat: Anatomy, vertical: int, offset_mm: float, p: SynthParams
) -> np.ndarray:
    """One arcade trunk: a random walk from the disc attracted to a path around the fovea.

    ``vertical`` is -1 for the superior arcade (towards small y), +1 for the inferior one.
    The guide path, in polar coordinates around the fovea with angle ``phi`` measured from
    the disc direction, has radius ``rho(phi)`` shrinking from the disc distance to about
    2 mm above/below the fovea and on towards the temporal raphe. Returns float64 (n, 2).
    """
    fx, fy = anat.fovea
    dx0, dy0 = anat.disc[0] - fx, anat.disc[1] - fy
    d_disc = float(np.hypot(dx0, dy0))
    base = float(np.arctan2(dy0, dx0))
    sense = vertical * anat.disc_side  # sign of the polar angle's change along the arcade
    a_mid = rng.uniform(1.9, 2.5) + offset_mm  # arcade radius above/below the fovea
    a_end = a_mid + rng.uniform(-0.2, 0.7)  # radius towards the temporal raphe

    def guide(phi: float) -> np.ndarray:
        if phi <= np.pi / 2:
            rho = d_disc + (a_mid - d_disc) * np.sin(phi)
        else:
            rho = a_mid + (a_end - a_mid) * (1.0 - np.cos(phi - np.pi / 2))
        ang = base + sense * phi
        return np.array([fx + rho * np.cos(ang), fy + rho * np.sin(ang)])

    w_mm, h_mm = anat.size_mm
    pad = p.margin_mm + 0.3
    pos = np.array(anat.disc, dtype=np.float64)
    heading = np.arctan2(-dy0, -dx0) - sense * rng.uniform(0.5, 0.9)
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
        heading += 0.2 * diff + rng.normal(0.0, 0.07)
        pos = pos + p.step_mm * np.array([np.cos(heading), np.sin(heading)])
        pts.append(pos.copy())
        outside = pos[0] < -pad or pos[0] > w_mm + pad or pos[1] < -pad or pos[1] > h_mm + pad
        if outside and phi > np.pi / 3:
            break
    return np.asarray(pts)


def grow_vessel_tree(rng: np.random.Generator, anat: Anatomy, p: SynthParams) -> VesselTree:
    """Grow the retinal vessel forest: arcade trunks, then space colonization, then radii.

    Returns a :class:`VesselTree` in mm with Murray's-law radii in um.
    """
    # ---- trunks: superior and inferior arcade, an artery and a vein each
    pts_list: list[np.ndarray] = []
    par_list: list[np.ndarray] = []
    n = 0
    for vertical in (-1, 1):
        for offset in (rng.uniform(-0.5, -0.1), rng.uniform(0.1, 0.5)):
            trunk = _grow_trunk(rng, anat, vertical, offset, p)
            pts_list.append(trunk)
            par = np.arange(n - 1, n - 1 + len(trunk))
            par[0] = -1
            par_list.append(par)
            n += len(trunk)
    pts = np.concatenate(pts_list)
    parent = np.concatenate(par_list)

    # ---- attraction points over the field + margin, outside the FAZ
    w_mm, h_mm = anat.size_mm
    m = p.margin_mm
    area = (w_mm + 2 * m) * (h_mm + 2 * m)
    # the vasculature is densest around the fovea: thin out a denser uniform sample
    peak = 1.0 + p.macular_density_gain
    count = int(rng.poisson(peak * p.attractor_density * area))
    att = rng.uniform((-m, -m), (w_mm + m, h_mm + m), size=(count, 2))
    r2 = (att[:, 0] - anat.fovea[0]) ** 2 + (att[:, 1] - anat.fovea[1]) ** 2
    density = 1.0 + p.macular_density_gain * np.exp(-r2 / p.macular_radius_mm**2)
    keep = rng.random(count) * peak < density
    keep &= anat.faz_distance(att[:, 0], att[:, 1]) > 0.12 + 0.25 * anat.faz_radius
    att = att[keep]

    pts, parent = _space_colonization(rng, pts, parent, att, anat.fovea, p)
    pts, parent = _prune_twigs(pts, parent, max(1, round(p.min_twig_mm / p.step_mm)))
    pts, parent = _sprout_twigs(rng, pts, parent, anat, p)
    pts = _smooth_chains(pts, parent, p.smooth_iterations)
    # veins (second of each pair) are wider than arteries
    roots = np.sort(rng.uniform(*p.trunk_radius_um, size=(2, 2)), axis=1).ravel()
    radius = _murray_radii(pts, parent, roots)
    return VesselTree(points=pts, parent=parent, radius=radius)


def _space_colonization(
    rng: np.random.Generator,
    pts: np.ndarray,
    parent: np.ndarray,
    att: np.ndarray,
    fovea: tuple[float, float],
    p: SynthParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Grow branches from the nodes (N0, 2) towards attraction points (M, 2).

    Each iteration, every attraction point pulls on its nearest servable node within
    ``influence_mm``, and each pulled node adds one child one step along the mean pull:

    - a tip keeps some inertia, leans towards the radial direction from the fovea and
      turns at most ``max_turn`` per step; it ignores points outside its perception cone
      (a slowly turning tip would otherwise circle around a point beside it);
    - a node inside a vessel may sprout one side branch, at an angle between
      ``min_branch_angle`` and ``max_branch_angle``, if it was drawn as a possible branch
      point (one per ``branch_interval_mm`` on average) and lies ``branch_spacing_mm`` or
      more along the vessel from other branch points.

    Points within ``kill_mm`` of a new node are removed. Nodes are appended, so parents
    precede children. Returns the grown (points, parent).
    """
    cap = len(pts) + 60000
    P = np.zeros((cap, 2))
    P[: len(pts)] = pts
    par = np.full(cap, -1, dtype=np.int64)
    par[: len(pts)] = parent
    heading = np.zeros((cap, 2))
    nchild = np.zeros(cap, dtype=np.int64)
    first_child = np.full(cap, -1, dtype=np.int64)
    since = np.zeros(cap, dtype=np.int64)  # steps since the last branch point upstream
    closed = np.zeros(cap, dtype=bool)  # never serves again
    n = len(pts)
    for i in range(n):  # the initial chains: a few hundred nodes
        j = par[i]
        if j >= 0:
            d = P[i] - P[j]
            heading[i] = d / max(float(np.hypot(*d)), 1e-12)
            if first_child[j] < 0:
                first_child[j] = i
                if par[j] < 0:
                    heading[j] = heading[i]
            nchild[j] += 1
            since[i] = since[j] + 1
    spacing = max(1, round(p.branch_spacing_mm / p.step_mm))
    # only some nodes may ever sprout a side branch: branch points are sparse
    can_branch = rng.random(cap) < p.step_mm / p.branch_interval_mm
    can_branch[:n] = rng.random(n) < p.step_mm / p.trunk_branch_interval_mm

    def servable(ids: np.ndarray) -> np.ndarray:
        inner = (nchild[ids] == 1) & can_branch[ids] & (since[ids] >= spacing)
        return ~closed[ids] & ((nchild[ids] == 0) | inner)

    def assign(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ids = np.flatnonzero(servable(np.arange(n)))
        return _nearest(att[points], P[ids], ids)

    infl2, kill2 = p.influence_mm**2, p.kill_mm**2
    fovea_xy = np.asarray(fovea, dtype=np.float64)
    alive = _nearest(att, P[:n], np.arange(n))[1] > kill2
    near, near_d2 = assign(np.arange(len(att)))

    for _ in range(p.max_iterations):
        act = np.flatnonzero(alive & (near_d2 < infl2))
        if len(act) == 0:
            break
        idx = near[act]
        vec = att[act] - P[idx]
        vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
        seen = (nchild[idx] > 0) | (np.sum(vec * heading[idx], axis=1) > p.cone_cos)
        if not seen.any():
            break
        idx, vec = idx[seen], vec[seen]
        sx = np.bincount(idx, vec[:, 0], minlength=n)
        sy = np.bincount(idx, vec[:, 1], minlength=n)
        nodes = np.flatnonzero(np.bincount(idx, minlength=n))
        pull = np.stack([sx[nodes], sy[nodes]], axis=1)
        pull /= np.maximum(np.linalg.norm(pull, axis=1, keepdims=True), 1e-12)
        tip = nchild[nodes] == 0
        h = heading[nodes]
        radial = P[nodes] - fovea_xy
        radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-12)
        radial *= np.sign(np.sum(radial * h, axis=1) + 1e-12)[:, None]
        want = pull + tip[:, None] * (p.inertia * h + p.radial_bias * radial)
        ang = np.arctan2(h[:, 0] * want[:, 1] - h[:, 1] * want[:, 0], np.sum(h * want, axis=1))
        ang += rng.normal(0.0, p.jitter, len(ang))
        ok = tip | (np.abs(ang) >= 0.5 * p.min_branch_angle)
        lo = np.where(tip, 0.0, p.min_branch_angle)
        hi = np.where(tip, p.max_turn, p.max_branch_angle)
        ang = np.sign(ang) * np.clip(np.abs(ang), lo, hi)
        c, s_ = np.cos(ang), np.sin(ang)
        direc = np.stack([c * h[:, 0] - s_ * h[:, 1], s_ * h[:, 0] + c * h[:, 1]], axis=1)
        # a side branch must not run along the vessel's continuation
        cont = heading[np.maximum(first_child[nodes], 0)]
        ok &= tip | (np.sum(direc * cont, axis=1) < np.cos(0.3))
        grow, direc = nodes[ok], direc[ok]
        k = len(grow)
        if k == 0:
            break
        if n + k > cap:
            break
        new = np.arange(n, n + k)
        P[new] = P[grow] + p.step_mm * direc
        par[new] = grow
        heading[new] = direc
        side = nchild[grow] == 1
        first_child[grow[~side]] = new[~side]
        nchild[grow] += 1
        since[new] = np.where(side, 0, since[grow] + 1)
        n += k
        # no other branch point near a new one along the vessel
        for b in grow[side]:
            closed[_chain_around(b, par, first_child, spacing)] = True
        # reached points die; the rest may now be nearer a new tip
        live = np.flatnonzero(alive)
        nn, nd2 = _nearest(att[live], P[new], new)
        alive[live[nd2 < kill2]] = False
        better = nd2 < near_d2[live]
        near[live[better]], near_d2[live[better]] = nn[better], nd2[better]
        # points whose node cannot serve any more look again
        live = np.flatnonzero(alive)
        stale = live[(near[live] < 0) | ~servable(np.maximum(near[live], 0))]
        if len(stale):
            near[stale], near_d2[stale] = assign(stale)
    return P[:n].copy(), par[:n].copy()


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
    curl = rng.normal(0.0, 0.08, len(base))  # each twig bends steadily one way
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


def _chain_around(b: int, par: np.ndarray, first_child: np.ndarray, k: int) -> np.ndarray:
    """Node ``b`` and the nodes up to ``k`` steps up and down its vessel (first children)."""
    out = [b]
    j = b
    for _ in range(k):
        j = par[j]
        if j < 0:
            break
        out.append(j)
    j = b
    for _ in range(k):
        j = first_child[j]
        if j < 0:
            break
        out.append(j)
    return np.asarray(out, dtype=np.int64)


def _prune_twigs(
    pts: np.ndarray,
    parent: np.ndarray,
    min_nodes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Remove terminal branches of fewer than ``min_nodes`` nodes that leave a branch point.

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
        if j >= 0 and nchild[j] >= 2 and len(chain) < min_nodes:
            keep[chain] = False
            nchild[j] -= 1
    new_index = np.cumsum(keep) - 1
    par = parent[keep]
    par = np.where(par >= 0, new_index[np.maximum(par, 0)], -1)
    return pts[keep], par


def _nearest(q: np.ndarray, pts: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query (Q, 2), the id of its nearest point (K, 2) and the squared distance."""
    if len(pts) == 0 or len(q) == 0:
        return np.full(len(q), -1, dtype=np.int64), np.full(len(q), np.inf)
    out_i = np.empty(len(q), dtype=np.int64)
    out_d = np.empty(len(q))
    chunk = max(1, 2_000_000 // len(pts))
    for s in range(0, len(q), chunk):
        d2 = ((q[s : s + chunk, None, :] - pts[None, :, :]) ** 2).sum(-1)
        j = d2.argmin(axis=1)
        out_i[s : s + chunk] = ids[j]
        out_d[s : s + chunk] = d2[np.arange(len(j)), j]
    return out_i, out_d


def _murray_radii(points: np.ndarray, parent: np.ndarray, root_radius_um: np.ndarray) -> np.ndarray:
    """Radii (um) by Murray's law with flow that leaks into capillaries along each vessel.

    The flow entering a segment is proportional to the vessel length it feeds (the
    segment and everything downstream) and ``r**3`` is proportional to that flow. Flows add
    up at every fork, so ``r_parent**3 == r_1**3 + r_2**3`` there up to what the parent's
    own segment (one growth step) leaks, about 1% at a typical fork; along a vessel the
    radius tapers towards fine tips. Each tree is scaled so that its root segment gets its
    entry of ``root_radius_um`` (one per root, in the order of the roots' indices).
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

    Attributes:
        vessel: coverage in [0, 1] of tree vessels (labelled or not).
        vessel_radius_um: mean radius (um) of the vessels covering a pixel, 0 elsewhere.
        label: bool, the large-vessel mask.
        svp, icp, dcp: capillary meshes in [0, 1] of the superficial, intermediate and
            deep plexuses (0 inside the FAZ and under large vessels).
        choroid: choroidal flow texture, mean about 1.
        gain: multiplicative signal strength (brightness field, dim B-scans).
        whiteout: additive decorrelation (bright motion stripes), 8-bit units.
        label_radius_um: the radius from which vessels are labelled.
    """

    vessel: np.ndarray
    vessel_radius_um: np.ndarray
    label: np.ndarray
    svp: np.ndarray
    icp: np.ndarray
    dcp: np.ndarray
    choroid: np.ndarray
    gain: np.ndarray
    whiteout: np.ndarray
    label_radius_um: float


def render_vessels(
    tree: VesselTree,
    anat: Anatomy,
    label_radius_um: float,
    min_label_px: float = 2.0,
    supersample: int = 4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize the tree onto the (scans, width) grid with anti-aliasing.

    Segments are drawn as thick lines on a ``supersample``-times finer canvas, thickest
    last, and area-averaged down. Returns float32 coverage in [0, 1], float32 mean radius
    (um) of the covering vessels, and the bool label (coverage of vessels of radius
    >= ``label_radius_um`` at least one half, drawn at least ``min_label_px`` wide).
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
    thick = np.maximum(1, np.round(2.0 * r_um / 1000.0 * scale)).astype(np.int64)
    um_per_code = 0.5  # radius code: 0.5 um per step, up to 127 um
    code = np.clip(np.round(r_um / um_per_code), 1, 255).astype(np.int64)
    min_label = round(min_label_px * ss)
    radius_canvas = np.zeros((h, w), np.uint8)
    label_canvas = np.zeros((h, w), np.uint8)
    lab = r_um >= label_radius_um
    # skip segments that lie wholly outside the canvas (plus their thickness)
    lo = np.minimum(a, b) / fix - thick[:, None]
    hi = np.maximum(a, b) / fix + thick[:, None]
    inside = (hi[:, 0] >= 0) & (hi[:, 1] >= 0) & (lo[:, 0] < w) & (lo[:, 1] < h)
    for i in np.flatnonzero(inside):
        p0 = (int(a[i, 0]), int(a[i, 1]))
        p1 = (int(b[i, 0]), int(b[i, 1]))
        t = int(thick[i])
        cv2.line(radius_canvas, p0, p1, int(code[i]), t, cv2.LINE_8, frac_bits)
        if lab[i]:
            cv2.line(label_canvas, p0, p1, 255, max(t, min_label), cv2.LINE_8, frac_bits)
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
    tree: VesselTree, anat: Anatomy, target_fraction: float, bounds_um: tuple[float, float]
) -> float:
    """The radius (um) above which the tree's vessels cover about ``target_fraction``.

    Models how far down the tree an annotator goes. Areas are estimated from segment
    lengths and diameters inside the field (overlaps ignored); the result is clipped to
    ``bounds_um``.
    """
    child = np.flatnonzero(tree.parent >= 0)
    a, b = tree.points[child], tree.points[tree.parent[child]]
    w_mm, h_mm = anat.size_mm
    mid = 0.5 * (a + b)
    inside = (mid[:, 0] >= 0) & (mid[:, 0] < w_mm) & (mid[:, 1] >= 0) & (mid[:, 1] < h_mm)
    r = tree.radius[child][inside]
    area = np.linalg.norm(a - b, axis=1)[inside] * 2.0 * r / 1000.0  # mm^2
    order = np.argsort(-r)
    cum = np.cumsum(area[order])
    k = int(np.searchsorted(cum, target_fraction * w_mm * h_mm))
    thr = float(r[order][min(k, len(order) - 1)]) if len(order) else bounds_um[1]
    return float(np.clip(thr, *bounds_um))


def _shift_rows(img: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Shift each row ``s`` of a (scans, width) image right by ``shift[s]`` px (edge held)."""
    if not shift.any():
        return img
    cols = np.clip(np.arange(img.shape[1])[None, :] - shift[:, None], 0, img.shape[1] - 1)
    return np.take_along_axis(img, cols, axis=1)


def render_enface(
    rng: np.random.Generator,
    anat: Anatomy,
    tree: VesselTree,
    p: SynthParams,
) -> EnFace:
    """All en-face maps of a subject (see :class:`EnFace`), artefacts included."""
    shape = (anat.scans, anat.width)
    target = rng.uniform(*p.label_fraction)
    thr = label_threshold(tree, anat, target, p.label_radius_um)
    # annotators draw vessels at least ~ 30 um (2 px at 6 mm) and 1 px wide
    min_label_px = float(np.clip(p.min_label_um / 1000.0 * anat.px_per_mm, 1.0, 2.0))
    vessel, radius, label = render_vessels(tree, anat, thr, min_label_px)

    # FAZ: no capillaries inside its irregular boundary, sparser ones just outside
    yy, xx = np.mgrid[0 : anat.scans, 0 : anat.width].astype(np.float64)
    xs, ys = (xx + 0.5) / anat.px_per_mm, (yy + 0.5) / anat.px_per_mm
    dist = anat.faz_distance(xs, ys)
    faz = np.clip(dist / 0.03 + 0.5, 0.0, 1.0) * np.clip(0.5 + dist / p.parafovea_mm, 0.0, 1.0)
    faz = faz.astype(np.float32)

    free = faz * (1.0 - vessel)  # capillaries neither in the FAZ nor under large vessels
    scales = p.capillary_scale_mm * np.array([1.0, 0.9, 1.1])  # superficial, intermediate, deep
    width = p.capillary_line_width
    svp, icp, dcp = (capillary_plexus(rng, shape, anat.px_per_mm, s, width) * free for s in scales)

    choroid = np.exp(p.choroid_texture_sd * _smooth_noise(rng, shape, 0.03 * anat.px_per_mm))
    choroid /= choroid.mean()

    # ---- artefacts: low-frequency brightness, dim / bright / shifted B-scans
    gain = np.exp(p.brightness_sd * _smooth_noise(rng, shape, 0.22 * anat.width))
    # each A-scan's signal fluctuates a little (survives the projection as grain)
    gain *= np.exp(p.ascan_noise_sd * rng.standard_normal(shape, dtype=np.float32))
    gain = (gain / gain.mean()).astype(np.float32)
    whiteout = np.zeros(shape, np.float32)
    shift = np.zeros(anat.scans, np.int64)
    for _ in range(int(rng.integers(p.stripes[0], p.stripes[1] + 1))):
        s0 = int(rng.integers(0, anat.scans))
        kind = rng.choice(["bright", "dim", "shift"])
        if kind == "bright":
            n = int(rng.integers(1, 4))
            whiteout[s0 : s0 + n] += rng.uniform(2.0, 6.0)
        elif kind == "dim":
            n = int(rng.integers(1, 6))
            gain[s0 : s0 + n] *= rng.uniform(0.35, 0.75)
        else:
            n = int(rng.integers(3, max(4, anat.scans // 12)))
            shift[s0 : s0 + n] += int(rng.choice([-1, 1]) * rng.integers(1, 4))
    vessel, radius = _shift_rows(vessel, shift), _shift_rows(radius, shift)
    label = _shift_rows(label, shift)
    svp, icp, dcp = (_shift_rows(m, shift) for m in (svp, icp, dcp))
    return EnFace(
        vessel=vessel,
        vessel_radius_um=radius,
        label=label,
        svp=svp,
        icp=icp,
        dcp=dcp,
        choroid=choroid.astype(np.float32),
        gain=gain,
        whiteout=whiteout,
        label_radius_um=thr,
    )


# =========================================================================== volume


def retina_surfaces(
    rng: np.random.Generator, anat: Anatomy, depth: int, p: SynthParams
) -> tuple[np.ndarray, np.ndarray]:
    """Depth rows of the ILM and the BM, float32 (scans, width) each.

    The BM is a tilted, slightly bowed, gently undulating surface; the retina above it is
    ``thickness_rows`` thick with smooth variation and a foveal pit. Rows scale with
    ``depth / 640``.
    """
    k = depth / _REF_DEPTH
    shape = (anat.scans, anat.width)
    yy, xx = np.mgrid[0 : anat.scans, 0 : anat.width].astype(np.float32)
    u = (xx + 0.5) / anat.width - 0.5  # -0.5 .. 0.5 across the field
    v = (yy + 0.5) / anat.scans - 0.5
    tilt = rng.normal(0.0, p.tilt_rows, 2)
    bow = rng.uniform(0.0, 16.0)
    undulate = 3.0 * _smooth_noise(rng, shape, 0.15 * anat.width)
    shape_rows = tilt[0] * u + tilt[1] * v - bow * (u * u + v * v) + undulate
    shape_rows -= shape_rows.mean()

    r2 = ((xx + 0.5) / anat.px_per_mm - anat.fovea[0]) ** 2
    r2 += ((yy + 0.5) / anat.px_per_mm - anat.fovea[1]) ** 2
    pit_width = rng.uniform(0.45, 0.65)  # mm
    pit = rng.uniform(*p.pit_rows) * np.exp(-r2 / pit_width**2)
    thick0 = rng.uniform(*p.thickness_rows)
    thickness = thick0 + 5.0 * _smooth_noise(rng, shape, 0.2 * anat.width) - pit
    bm = p.ilm_row + thick0 + shape_rows
    ilm = bm - thickness
    return (k * ilm).astype(np.float32), (k * bm).astype(np.float32)


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


def _slabs(ef: EnFace, ilm: np.ndarray, bm: np.ndarray, depth: int, p: SynthParams) -> list[_Slab]:
    """The layers of flow signal, amplitudes already multiplied by the gain field."""
    k = depth / _REF_DEPTH
    g = ef.gain
    thick = bm - ilm
    min_half = 0.8  # rows: a thinner profile could fall between rows
    # large vessels in the nerve fibre / ganglion cell layers, axial size ~ their diameter
    vr = ef.vessel_radius_um * (p.vessel_axial_factor / _AXIAL_UM_PER_ROW)
    vr = np.maximum(vr, p.vessel_min_half_rows) * k
    vr = np.maximum(vr, min_half)
    vr = np.where(ef.vessel > 0, vr, min_half).astype(np.float32)
    # vessels thinner than labelled ones are dimmer (partial volume, slower flow): what an
    # annotator labels is what stands out
    full = max(p.vessel_full_radius_um, p.label_contrast * ef.label_radius_um)
    v_amp = p.vessel_flow * ef.vessel * g
    v_amp *= np.clip(ef.vessel_radius_um / full, 0.35, 1.0) ** 1.5
    v_pos = ilm + 2.0 * k + vr
    tail_pos = v_pos + vr
    rpe_src = cv2.GaussianBlur(ef.vessel, (0, 0), 1.0) + 0.25 * ef.svp
    amp_tissue = p.tissue_flow * g + ef.whiteout
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
    ilm: np.ndarray,
    bm: np.ndarray,
    depth: int,
    p: SynthParams,
) -> np.ndarray:
    """Fill the uint8 OCTA volume (scans, depth, width), one depth row at a time.

    Each row is the sum of the slabs' flow, times gamma speckle (mean 1), minus the noise
    floor, clipped to the subject's saturation level. Rows no slab reaches stay 0.
    """
    scans, width = ilm.shape
    vol = np.zeros((scans, depth, width), np.uint8)
    slabs = _slabs(ef, ilm, bm, depth, p)
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
        :class:`SyntheticSubject` with ``octa`` uint8 (scans, depth, width) and ``label``
        uint8 (scans, width) of 0/255 in the scan frame.
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
    ilm, bm = retina_surfaces(rng, anat, int(depth), params)
    octa = render_volume(rng, ef, ilm, bm, int(depth), params)
    label = np.where(ef.label, 255, 0).astype(np.uint8)
    return SyntheticSubject(subject_id=int(subject_id), octa=octa, label=label)


def write_subject(
    root: str | Path, subject: SyntheticSubject, fov: str = "6mm", orientation: str = "flipud"
) -> None:
    """Write a subject in the OCTA-500 layout under ``root``.

    ``root/OCTA_{fov}/OCTA/{id}/1.bmp .. {scans}.bmp`` (B-scan ``s`` is file ``s + 1``,
    8-bit grayscale depth x width) and ``root/Label/GT_LargeVessel/{id}.bmp``, the label
    oriented by ``orientation`` (see :func:`octaseg.projection.orient`). Both are written
    under temporary names and renamed into place, so no half-written subject looks done.
    """
    if fov not in FOV_GEOMETRY:
        raise ValueError(f"unknown field of view {fov!r}; expected one of {sorted(FOV_GEOMETRY)}")
    octa, label = subject.octa, subject.label
    if octa.ndim != 3 or octa.dtype != np.uint8:
        raise ValueError(f"octa must be uint8 (scans, depth, width), got {octa.dtype} {octa.shape}")
    if label.shape != (octa.shape[0], octa.shape[2]) or label.dtype != np.uint8:
        raise ValueError(
            f"label must be uint8 (scans, width) = {(octa.shape[0], octa.shape[2])}, "
            f"got {label.dtype} {label.shape}"
        )
    oriented = orient(label, orientation)  # fails early on a bad name
    root = Path(root)
    sid = subject.subject_id
    pid = os.getpid()
    # temporary names start with a dot: dataset scans skip them, and never see a subject
    # folder or a label before it is complete
    bscans = root / f"OCTA_{fov}" / "OCTA" / str(sid)
    bscans.parent.mkdir(parents=True, exist_ok=True)
    tmp = bscans.with_name(f".{sid}.tmp-{pid}")
    old = bscans.with_name(f".{sid}.old-{pid}")
    for stale in (tmp, old):
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir()
    try:
        for s in range(octa.shape[0]):
            path = tmp / f"{s + 1}.bmp"
            if not cv2.imwrite(str(path), octa[s]):
                raise OSError(f"cv2.imwrite failed for {path}")
        if bscans.exists():
            os.replace(bscans, old)
        os.replace(tmp, bscans)
    finally:
        for leftover in (tmp, old):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)

    label_path = root / "Label" / "GT_LargeVessel" / f"{sid}.bmp"
    label_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_label = label_path.with_name(f".{sid}.tmp-{pid}.bmp")  # cv2 needs the suffix
    try:
        if not cv2.imwrite(str(tmp_label), oriented):
            raise OSError(f"cv2.imwrite failed for {tmp_label}")
        os.replace(tmp_label, label_path)
    finally:
        if tmp_label.exists():
            tmp_label.unlink()
