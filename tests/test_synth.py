"""Tests of the synthetic OCTA-500 generator (octaseg.synth).

Small geometries keep most tests fast; module-scoped fixtures generate three full-size
subjects of each field of view for the statistics that only make sense at full size,
checked against the bands of :data:`octaseg.realism.TARGETS`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from octaseg import realism, synth
from octaseg.layers import read_gt_layers
from octaseg.map_appearance import REAL_APPEARANCE, edge_profile, vessel_grain
from octaseg.projection import orient, slab_projection
from octaseg.synth import (
    FOV_GEOMETRY,
    SyntheticSubject,
    colonization,
    generate_subject,
    vessel_tree,
    write_subject,
)

SMALL = {"scans": 64, "depth": 96, "width": 64}
ORIENTATION = {"6mm": "flipud", "3mm": "fliplr"}  # OCTA-500's label frames
OCT_MEAN = (75.0, 105.0)  # real OCT B-scans: mean about 90


@pytest.fixture(scope="module")
def small() -> SyntheticSubject:
    return generate_subject(10001, seed=3, **SMALL)


@pytest.fixture(scope="module")
def full_size() -> dict[str, list[SyntheticSubject]]:
    """Three OCTA-500 subjects of each field of view: about 4 s."""
    out = {}
    for fov, first in (("6mm", 10001), ("3mm", 10301)):
        scans, depth, width = FOV_GEOMETRY[fov]
        out[fov] = [
            generate_subject(sid, seed=0, scans=scans, depth=depth, width=width)
            for sid in range(first, first + 3)
        ]
    return out


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def _stages(sid: int, scans: int, depth: int, width: int, p: synth.SynthParams = synth.DEFAULT_PARAMS):
    """generate_subject's stages, step by step: (anatomy, en-face maps, surfaces, rng)."""
    rng = np.random.default_rng([0, sid])
    anat = synth.sample_anatomy(rng, scans, width, synth.default_field_mm(scans, width), p)
    tree = synth.grow_vessel_tree(rng, anat, p)
    ef = synth.render_enface(rng, anat, tree, p)
    surf = synth.retina_surfaces(rng, anat, depth, p).warp(ef.motion)
    return anat, tree, ef, surf, rng


# --------------------------------------------------------------------------- interface


def test_fov_geometry() -> None:
    assert FOV_GEOMETRY == {"6mm": (400, 640, 400), "3mm": (304, 640, 304)}


def test_shapes_dtypes_and_mask_values(small: SyntheticSubject) -> None:
    assert small.subject_id == 10001
    for volume in (small.octa, small.oct):
        assert volume.shape == (64, 96, 64) and volume.dtype == np.uint8
        assert volume.max() > 0
    for mask in (small.label, small.faz, small.capillary):
        assert mask.shape == (64, 64) and mask.dtype == np.uint8
        assert set(np.unique(mask)) == {0, 255}
    assert not np.any((small.label > 0) & (small.capillary > 0))


def test_non_square_geometry() -> None:
    subject = generate_subject(7, scans=48, depth=80, width=72)
    assert subject.octa.shape == subject.oct.shape == (48, 80, 72)
    assert subject.label.shape == subject.faz.shape == subject.capillary.shape == (48, 72)


def test_deterministic_per_seed_and_id(small: SyntheticSubject) -> None:
    again = generate_subject(10001, seed=3, **SMALL)
    fields = ("octa", "oct", "label", "faz", "capillary")
    for name in fields:
        assert np.array_equal(getattr(again, name), getattr(small, name)), name
    other_id = generate_subject(10002, seed=3, **SMALL)
    other_seed = generate_subject(10001, seed=4, **SMALL)
    for other in (other_id, other_seed):
        for name in fields:
            assert not np.array_equal(getattr(other, name), getattr(small, name)), name


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"width": 31}, "31"),
        ({"scans": 8}, "8"),
        ({"depth": 40}, "40"),
        ({"width": 64.0}, "64.0"),
        ({"seed": -1}, "-1"),
        ({"subject_id": -5}, "-5"),
        ({"field_mm": 0.1}, "0.1"),
    ],
)
def test_bad_arguments_are_refused_with_the_value(kwargs: dict, bad: str) -> None:
    args = {"subject_id": 1, **SMALL, **kwargs}
    with pytest.raises(ValueError, match=bad):
        generate_subject(**args)


# --------------------------------------------------------------------------- anatomy


def test_murray_law_at_forks() -> None:
    """Without the per-vessel factor, r_parent ** e = sum r_child ** e at every fork (e the
    Murray exponent), up to what the parent's own step leaks."""
    p = dataclasses.replace(synth.DEFAULT_PARAMS, vessel_radius_sd=0.0)
    e = p.murray_exponent
    rng = np.random.default_rng([0, 1])
    anat = synth.sample_anatomy(rng, 400, 400, 6.0, p)
    tree = synth.grow_vessel_tree(rng, anat, p)
    par, r = tree.parent, tree.radius
    assert np.all(par < np.arange(len(par)))  # parents precede children
    kids = np.flatnonzero(par >= 0)
    nchild = np.bincount(par[kids], minlength=len(par))
    power_sum = np.zeros(len(par))
    np.add.at(power_sum, par[kids], r[kids] ** e)
    forks = np.flatnonzero(nchild >= 2)
    assert len(forks) > 50
    # r_parent^e = sum r_child^e + the flow the parent segment itself leaks (one step)
    excess = (r[forks] ** e - power_sum[forks]) / r[forks] ** e
    assert excess.min() >= -1e-9
    # relative to what a fork feeds, one step leaks most near the tips
    assert np.median(excess[r[forks] >= 5]) < 0.05
    # trunks are 30-45 um at the disc and the radii decrease down the tree
    assert 25 < r.max() < 50
    assert np.all(r[kids] <= r[par[kids]] + 1e-9)


def test_murray_exponent_spreads_the_flow_over_radii() -> None:
    """A root feeding a long branch and a short one: the radii follow flow ** (1 / e), so a
    larger exponent leaves the small branch nearer the large one's width."""
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [9.0, 0.0], [1.0, 1.0]])
    parent = np.array([-1, 0, 1, 1])
    for e in (3.0, 4.0):
        r = vessel_tree._murray_radii(pts, parent, np.array([30.0]), exponent=e)
        # node 1's own step (1 of the 10 mm it feeds) leaks into capillaries
        assert r[2] ** e + r[3] ** e == pytest.approx(0.9 * r[1] ** e)
        assert r[3] / r[2] == pytest.approx((1 / 8) ** (1 / e))


def test_vessel_factor_scales_whole_vessels() -> None:
    """Each vessel (a root, or a side branch on through its widest children) gets one
    lognormal factor; its side branches get their own."""
    parent = np.array([-1, 0, 1, 2, 1, 4])  # 0-1-2-3 the main vessel, 4-5 a side branch at 1
    radius = np.array([30.0, 28.0, 25.0, 20.0, 8.0, 6.0])
    factor = vessel_tree._vessel_factor(np.random.default_rng(0), parent, radius, 0.3)
    assert factor[0] == factor[1] == factor[2] == factor[3]
    assert factor[4] == factor[5] != factor[0]
    many = vessel_tree._vessel_factor(np.random.default_rng(1), np.full(4000, -1), np.ones(4000), 0.3)
    assert np.std(np.log(many)) == pytest.approx(0.3, rel=0.05)


def test_smoothing_runs_through_forks_and_keeps_ends() -> None:
    """A vessel zigzags along x with a side branch at a kink: smoothing straightens the
    vessel through its fork (the main child is the one feeding more nodes) and leaves the
    root and the ends where they were."""
    main = np.array([[x, 0.05 * (-1) ** x] for x in range(8)], float)  # nodes 0..7
    side = np.array([[4.0, 1.0], [4.0, 2.0]])  # nodes 8, 9 leave node 4
    pts = np.vstack([main, side])
    parent = np.array([-1, 0, 1, 2, 3, 4, 5, 6, 4, 8])
    out = vessel_tree._smooth_chains(pts, parent, 6)
    for fixed in (0, 7, 9):  # the root and both ends
        np.testing.assert_array_equal(out[fixed], pts[fixed])
    assert abs(out[4, 1]) < 0.5 * abs(pts[4, 1])  # the fork is smoothed along the vessel
    assert np.abs(out[1:7, 1]).max() < 0.6 * np.abs(pts[1:7, 1]).max()


def test_macula_demand_widens_what_runs_to_the_faz() -> None:
    """Flow per mm is about 1 + macula_demand at the FAZ's edge and falls off away from it; a branch
    that feeds the parafovea is wider with that demand than without it."""
    p = synth.DEFAULT_PARAMS
    rng = np.random.default_rng([0, 2])
    anat = synth.sample_anatomy(rng, 400, 400, 6.0, p)
    fx, fy = anat.fovea
    edge = anat.faz_radius * 1.5  # beyond the FAZ's irregular boundary
    near_far = np.array([[fx + edge, fy], [fx + 2.9, fy + 2.9]])
    d = vessel_tree.demand(anat, near_far, p)
    assert d[0] > 0.5 * p.macula_demand and d[1] - 1 < 0.1 * (d[0] - 1)
    # a root with two equal children: one towards the FAZ, one away from it
    far = [[fx + 2.0, fy + 1.0], [fx + 2.0, fy + 2.0 - edge]]  # as long, away from the FAZ
    pts = np.array([[fx + 2.0, fy], [fx + 1.0, fy], [fx + edge, fy], *far])
    parent = np.array([-1, 0, 1, 0, 3])
    flat = vessel_tree._murray_radii(pts, parent, np.array([30.0]))
    weighted = vessel_tree._murray_radii(
        pts, parent, np.array([30.0]), demand=vessel_tree.demand(anat, pts, p)
    )
    assert flat[2] == pytest.approx(flat[4], rel=0.2)
    assert weighted[2] > 1.5 * weighted[4]


def _colonized(sid: int) -> tuple[synth.Anatomy, colonization.Forest, int]:
    """The raw space-colonization forest of subject ``sid`` (before smoothing) and how
    many of its first nodes are the arcade trunks it grew from (the edge stumps follow)."""
    p = synth.DEFAULT_PARAMS
    rng = np.random.default_rng([0, sid])
    anat = synth.sample_anatomy(rng, 400, 400, 6.0, p)
    bounds = vessel_tree._growth_bounds(anat, p)
    forest, trunk_par = vessel_tree._roots(rng, anat, bounds, p)
    return anat, colonization.colonize(rng, anat, forest, bounds, p), len(trunk_par)


def test_colonization_serves_the_field_without_crossing() -> None:
    """Arteries and veins grow from the trunks until every part of the field outside the
    FAZ is within reach of a vessel; no vessel enters the FAZ, none steps onto another,
    and a node has at most two children."""
    anat, forest, n_trunk = _colonized(1)
    par = forest.parent
    assert np.all(par < np.arange(forest.n))
    assert np.bincount(par[par >= 0]).max() <= 2
    assert np.bincount(forest.kind).min() > 1000  # both arteries and veins grew
    x, y = forest.points[:, 0], forest.points[:, 1]
    assert np.all(anat.faz_distance(x, y)[n_trunk:] > 0)
    # every point of the field outside the FAZ is within 0.25 mm of a vessel
    g = np.stack(np.meshgrid(np.linspace(0, 6, 61), np.linspace(0, 6, 61)), -1).reshape(-1, 2)
    g = g[anat.faz_distance(g[:, 0], g[:, 1]) > 0.3]
    dist, _ = cKDTree(forest.points).query(g)
    assert np.quantile(dist, 0.99) < 0.25, np.quantile(dist, 0.99)
    # no two grown nodes closer than half a step, except a node and its parent or siblings
    # (the disc's trunks start together)
    pairs = cKDTree(forest.points).query_pairs(
        0.5 * synth.DEFAULT_PARAMS.colonize_min_step_mm, output_type="ndarray"
    )
    a, b = pairs[pairs.max(axis=1) >= n_trunk].T
    related = (par[a] == b) | (par[b] == a) | (par[a] == par[b])
    assert related.all(), np.stack([a, b])[:, ~related]


def test_sinks_keep_their_gaps() -> None:
    anat = synth.sample_anatomy(np.random.default_rng(0), 400, 400, 6.0, synth.DEFAULT_PARAMS)
    nodes = np.array([[3.0, 1.0], [1.0, 3.0]])
    sinks = colonization.sample_sinks(
        np.random.default_rng(1), anat, (0, 0, 6, 6), nodes, np.zeros((0, 2)), 3000, (0.5, 0.2, 0.1)
    )
    assert 100 < len(sinks) < 3000
    assert cKDTree(nodes).query(sinks)[0].min() >= 0.5
    assert cKDTree(sinks).query(sinks, k=2)[0][:, 1].min() >= 0.2
    assert anat.faz_distance(sinks[:, 0], sinks[:, 1]).min() >= 0.1


def test_faz_and_capillaries() -> None:
    anat, _, ef, _, _ = _stages(2, 400, 96, 400)
    faz = ef.faz
    # the FAZ label: an irregular disc of radius 0.2-0.38 mm, where the fovea is
    area_mm2 = faz.sum() / anat.px_per_mm**2
    assert np.pi * 0.15**2 < area_mm2 < np.pi * 0.45**2
    _, xx = np.nonzero(faz)
    assert abs(xx.mean() / anat.px_per_mm - anat.fovea[0]) < 0.2
    # no capillaries nor labelled vessels in it
    inner = cv2.erode(faz.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    for plexus in (ef.svp, ef.icp, ef.dcp):
        assert plexus[inner].max() < 1e-3
    assert ef.label[inner].mean() < 0.02
    # the capillary label: a dense mesh around the FAZ, never under the large-vessel label
    assert not np.any(ef.capillary & ef.label) and not np.any(ef.capillary & faz)
    assert 0.15 < ef.capillary.mean() < 0.7


def test_vessels_are_brightest_on_their_axis() -> None:
    """The flow profile: full on the axes of wide vessels, 1 - vessel_core_weight at their
    rims; with no core weight it is the coverage itself."""
    _, _, ef, _, _ = _stages(10003, 400, 96, 400)
    p = synth.DEFAULT_PARAMS
    depth = ndimage.distance_transform_edt(ef.label)
    ratio = ef.vessel_profile / np.maximum(ef.vessel, 1e-6)
    axis = skeletonize(ef.label) & (depth >= 2.5)
    rim = ef.label & ~ndimage.binary_erosion(ef.label) & ndimage.binary_dilation(depth >= 2.5, iterations=3)
    assert axis.sum() > 50 and rim.sum() > 100
    assert np.median(ratio[axis]) > 0.95
    assert np.median(ratio[rim]) == pytest.approx(1.0 - p.vessel_core_weight, abs=0.05)
    flat = dataclasses.replace(p, vessel_core_weight=0.0)
    _, _, ef_flat, _, _ = _stages(10003, 400, 96, 400, flat)
    np.testing.assert_array_equal(ef_flat.vessel_profile, ef_flat.vessel)


def test_vessel_profile_shows_on_the_map() -> None:
    """On the OCTA(ILM_OPL) map the rim of wide vessels is dimmer than their axis with the
    core (map_appearance's vessel_edge), and their signal spreads past the label with the
    blur (vessel_halo); both within the real 6mm bands with the default settings."""
    unblurred = dataclasses.replace(synth.DEFAULT_PARAMS, vessel_blur_px=0.0)
    plateau = dataclasses.replace(unblurred, vessel_core_weight=0.0)
    stats = {}
    for name, p in (("default", synth.DEFAULT_PARAMS), ("unblurred", unblurred), ("plateau", plateau)):
        subject = generate_subject(10004, seed=0, scans=400, depth=160, width=400, params=p)
        image = synth.official_maps(subject)["OCTA(ILM_OPL)"]
        stats[name] = edge_profile(image, subject.label > 0)
    assert stats["unblurred"]["vessel_edge"] < stats["plateau"]["vessel_edge"] - 0.1
    assert stats["default"]["vessel_halo"] > stats["unblurred"]["vessel_halo"] + 0.03
    for key, value in stats["default"].items():
        low, high = REAL_APPEARANCE["6mm"][key]
        assert low <= value <= high, (key, value)


def test_vessel_grain_shows_on_the_map() -> None:
    """Real vessels are grainy: their flow signal fluctuates from one A-scan to the next
    (map_appearance's vessel_grain_*). With the default flow grain the labelled vessels'
    grain on the OCTA(ILM_OPL) map, median over three subjects (one subject's few mid-width
    vessels can fall out of a band real subjects span 5th to 95th percentile), lies within
    the real 6mm bands; without it (per-row speckle alone, averaged over a vessel's depth)
    the thin ones are smoother than any real map's."""
    stats: dict[str, list[dict[str, float]]] = {}
    for name, sd in (("default", synth.DEFAULT_PARAMS.vessel_grain_sd), ("smooth", 0.0)):
        p = dataclasses.replace(synth.DEFAULT_PARAMS, vessel_grain_sd=sd)
        for sid in (10001, 10002, 10003):
            # the full depth: fewer rows average the per-row speckle less (mid 0.21 at 160)
            subject = generate_subject(sid, seed=0, scans=400, depth=640, width=400, params=p)
            image = synth.official_maps(subject)["OCTA(ILM_OPL)"]
            stats.setdefault(name, []).append(vessel_grain(image, subject.label > 0))
    median = {
        name: {k: float(np.median([r[k] for r in rows])) for k in rows[0]} for name, rows in stats.items()
    }
    assert median["smooth"]["vessel_grain_thin"] < REAL_APPEARANCE["6mm"]["vessel_grain_thin"][0]
    for key, value in median["default"].items():
        low, high = REAL_APPEARANCE["6mm"][key]
        assert low <= value <= high, (key, value)


# --------------------------------------------------------------------------- volumes


def test_signal_only_in_the_band(small: SyntheticSubject) -> None:
    # the ILM lies near row 243 / 640 (+- tilt), the choroid ends near 420 / 640
    k = SMALL["depth"] / 640
    assert small.octa[:, : int(150 * k), :].max() == 0
    assert small.octa[:, int(500 * k) :, :].max() == 0
    assert 0.15 < realism.signal_rows_fraction(small.octa) < 0.4


@pytest.mark.parametrize("fov", ["6mm", "3mm"])
def test_full_size_statistics(full_size: dict[str, list[SyntheticSubject]], fov: str) -> None:
    """OCTA-500 B-scans: OCTA mean ~1.9, max ~85, p99 ~29, ~81% zeros, ~28% band rows;
    labels ~9% (6-13%) of calibre ~2.6-3.1 px; OCT B-scans: mean ~90. Labels in OCTA-500's
    frame for the field of view. Frangi + Otsu on the mean projection: the median of the
    three subjects in band (the real 5th-95th percentile, which one real map in ten falls
    outside; the generator's vessels, brightest on their axis, give 0.45-0.72 per subject)."""
    frangi = []
    for subject in full_size[fov]:
        label = orient(subject.label, ORIENTATION[fov])
        projection = orient(subject.octa.mean(axis=1, dtype=np.float32), ORIENTATION[fov])
        stats = realism.subject_stats(subject.octa, label, projection)
        frangi.append(stats.pop("frangi_dice"))
        assert realism.out_of_band(stats) == {}, (subject.subject_id, stats)
        assert OCT_MEAN[0] <= subject.oct.mean() <= OCT_MEAN[1]
        # nothing far above the band (ILM ~ row 243) or far below the choroid
        assert subject.octa[:, :150, :].max() == 0 and subject.octa[:, 500:, :].max() == 0
    low, high = realism.TARGETS["frangi_dice"]
    assert low <= np.median(frangi) <= high, frangi
    # subjects differ
    a, b = (s.label > 0 for s in full_size[fov][:2])
    assert (a & b).sum() / (a | b).sum() < 0.5


@pytest.mark.parametrize("fov", ["6mm", "3mm"])
def test_full_size_official_maps(full_size: dict[str, list[SyntheticSubject]], fov: str) -> None:
    """The OCTA(FULL) map as OCTA-500's official ones: 8-bit, contrast-stretched, mean
    about 120 of 255, about 1% of pixels saturated; vessels bright, the FAZ dark."""
    for subject in full_size[fov]:
        maps = synth.official_maps(subject)
        full = maps["OCTA(FULL)"]
        assert 100 <= full.mean() <= 140, (subject.subject_id, full.mean())
        assert 0.005 <= (full == 255).mean() <= 0.03
        label, faz = subject.label > 0, subject.faz > 0
        assert full[label].mean() > full[~label].mean() + 40
        assert full[faz].mean() < full[~label].mean()
        for folder, image in maps.items():
            assert image.dtype == np.uint8 and image.shape == subject.label.shape, folder


def test_oct_layers_follow_the_surfaces() -> None:
    """Bright nerve fibre layer and RPE band, darker nuclear layers, a dark vitreous, all
    at the depths of the surfaces the flow signal follows."""
    _, _, ef, surf, rng = _stages(10001, 48, 640, 48)
    synth.render_volume(rng, ef, surf, 640, synth.DEFAULT_PARAMS)
    oct_volume = synth.render_oct(rng, ef, surf, 640, synth.DEFAULT_PARAMS)
    assert np.array_equal(oct_volume, generate_subject(10001, scans=48, depth=640, width=48).oct)
    rows = np.arange(640)[None, :, None]

    def mean_between(top: np.ndarray, bottom: np.ndarray) -> float:
        sel = (rows >= top[:, None, :]) & (rows < bottom[:, None, :])
        return float(oct_volume[sel].mean())

    outer = surf.bm - surf.opl
    vitreous = mean_between(surf.ilm - 80, surf.ilm - 20)
    nfl = mean_between(surf.ilm + 1, surf.nfl)
    onl = mean_between(surf.opl + 0.15 * outer, surf.opl + 0.5 * outer)
    rpe = mean_between(surf.bm - 0.12 * outer, surf.bm - 1)
    assert rpe > onl + 60 and nfl > onl + 40 and vitreous < onl
    # speckle: neighbouring voxels of a layer differ
    assert oct_volume[:, 100, :].std() > 10


def test_floaters_darken_what_is_below_them() -> None:
    """A floater shadows the OCT and OCTA signal under it; the label stays as it was."""
    p = dataclasses.replace(synth.DEFAULT_PARAMS, floater_probability=1.0, floater_radius_mm=(0.45, 0.5))
    q = dataclasses.replace(p, floater_probability=0.0)
    volumes = {}
    for name, params in (("floaters", p), ("clear", q)):
        _, _, ef, surf, rng = _stages(5, 128, 320, 128, params)
        octa = synth.render_volume(rng, ef, surf, 320, params)
        volumes[name] = ef, surf, octa, synth.render_oct(rng, ef, surf, 320, params)
    ef, surf, octa, oct_volume = volumes["floaters"]
    clear, _, octa_clear, _ = volumes["clear"]
    assert np.array_equal(ef.label, clear.label)  # floaters do not change the label
    under, free = ef.floater > 0.7, ef.floater == 0
    assert under.sum() > 50
    # OCT: the retina is darker under a floater than elsewhere
    rows = np.arange(320)[None, :, None]
    band = (rows >= surf.ilm[:, None, :]) & (rows < surf.bm[:, None, :])
    retina = np.where(band, oct_volume, 0).sum(axis=1) / band.sum(axis=1)
    assert retina[under].mean() < retina[free].mean() - 15
    # OCTA: less flow signal there than in the same eye without floaters
    flow = octa.mean(axis=1) / np.maximum(octa_clear.mean(axis=1), 0.1)
    assert np.median(flow[under]) < 0.8 * np.median(flow[free])


def test_weak_signal_subjects_are_fainter() -> None:
    p = dataclasses.replace(synth.DEFAULT_PARAMS, low_signal_probability=1.0, low_signal=(0.6, 0.6))
    q = dataclasses.replace(p, low_signal_probability=0.0)
    weak = generate_subject(9, params=p, **SMALL)
    normal = generate_subject(9, params=q, **SMALL)
    assert np.array_equal(weak.label, normal.label)
    vessels = weak.label > 0
    assert weak.octa.mean(axis=1)[vessels].mean() < 0.85 * normal.octa.mean(axis=1)[vessels].mean()


def test_label_follows_shifted_and_stretched_bscans() -> None:
    """Motion moves B-scans and their label rows alike: label and projection stay aligned."""
    p = dataclasses.replace(synth.DEFAULT_PARAMS, stripes=(10, 10), stripe_kinds=(0.0, 0.0, 0.5, 0.5))
    still = dataclasses.replace(p, stripes=(0, 0))
    geometry = {"scans": 128, "depth": 96, "width": 128}
    for sid in (4, 5):
        _, _, ef, _, _ = _stages(sid, **geometry, p=p)
        src, shift = ef.motion.src, ef.motion.shift
        assert np.any(shift != 0)
        assert np.any(src[1:] == src[:-1])  # stretched: a B-scan images the same tissue again
        moved = (src != np.arange(len(src))) | (shift != 0)
        assert 10 < moved.sum() < 100
        subject = generate_subject(sid, **geometry, params=p)
        projection = subject.octa.mean(axis=1)
        label = subject.label
        assert _corr(label, projection) > _corr(np.flipud(label), projection) + 0.2
        # on the B-scans that moved, the label fits its projection as well as elsewhere and
        # far better than the label of the same eye without motion (a ratio: how well any
        # label fits depends on how much the capillary mesh shows at this size)
        unmoved = generate_subject(sid, **geometry, params=still).label
        fit = _corr(label[moved], projection[moved])
        assert fit > 0.6 * _corr(label[~moved], projection[~moved])
        assert fit > 1.25 * _corr(unmoved[moved], projection[moved])


# --------------------------------------------------------------------------- writing


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_write_subject_layout(tmp_path: Path) -> None:
    subject = generate_subject(10007, seed=1, scans=96, depth=96, width=96)
    write_subject(tmp_path, subject, fov="6mm", orientation="flipud")

    for kind, volume in (("OCTA", subject.octa), ("OCT", subject.oct)):
        folder = tmp_path / "OCTA_6mm" / kind / "10007"
        assert sorted(p.name for p in folder.parent.iterdir()) == ["10007"]
        assert sorted(p.name for p in folder.iterdir()) == sorted(f"{i}.bmp" for i in range(1, 97))
        for s in (0, 1, 47, 95):
            bscan = _read(folder / f"{s + 1}.bmp")
            assert bscan.ndim == 2 and bscan.dtype == np.uint8 and bscan.shape == (96, 96)
            assert np.array_equal(bscan, volume[s])

    labels = tmp_path / "Label"
    expected = ["GT_Capillary", "GT_FAZ", "GT_LargeVessel", "GT_Layers"]
    assert sorted(p.name for p in labels.iterdir()) == expected
    written = {}
    for name, mask in (
        ("GT_LargeVessel", subject.label),
        ("GT_FAZ", subject.faz),
        ("GT_Capillary", subject.capillary),
    ):
        assert sorted(p.name for p in (labels / name).iterdir()) == ["10007.bmp"]
        image = _read(labels / name / "10007.bmp")
        assert image.ndim == 2 and image.dtype == np.uint8 and image.shape == (96, 96)
        assert set(np.unique(image)) <= {0, 255}
        assert np.array_equal(image, np.flipud(mask))
        written[name] = image > 0
    # the written labels follow OCTA-500 6mm: label == flipud(mean projection); the FAZ is
    # the dark centre of that projection, the capillaries brighter than what is left
    folder = tmp_path / "OCTA_6mm" / "OCTA" / "10007"
    proj = np.flipud(np.stack([_read(folder / f"{s + 1}.bmp") for s in range(96)]).mean(axis=1))
    assert _corr(written["GT_LargeVessel"], proj) > _corr(written["GT_LargeVessel"], np.flipud(proj)) + 0.15
    rest = ~written["GT_LargeVessel"] & ~written["GT_Capillary"] & ~written["GT_FAZ"]
    capillary = proj[written["GT_Capillary"]].mean()
    assert proj[written["GT_FAZ"]].mean() < 0.8 * capillary and proj[rest].mean() < 0.8 * capillary
    # the layer surfaces, in the volume's frame as OCTA-500's
    layers = read_gt_layers(labels / "GT_Layers" / "10007.mat", shape=(96, 96), depth=96)
    for name, surface in subject.layers.items():
        assert np.abs(layers[name] - surface).max() <= 0.5
    # the official-style maps: 8-bit, in the label frame, each from its own slab
    maps = tmp_path / "OCTA_6mm" / "Projection Maps"
    folders = ["OCT(FULL)", "OCT(ILM_OPL)", "OCT(OPL_BM)", "OCTA(FULL)", "OCTA(ILM_OPL)", "OCTA(OPL_BM)"]
    assert sorted(p.name for p in maps.iterdir()) == folders
    images = {}
    for folder in folders:
        assert [p.name for p in (maps / folder).iterdir()] == ["10007.bmp"]
        images[folder] = _read(maps / folder / "10007.bmp")
        assert images[folder].shape == (96, 96) and images[folder].dtype == np.uint8
    assert _corr(images["OCTA(FULL)"], proj) > 0.95
    slab = np.flipud(slab_projection(subject.octa, subject.layers["ILM"], subject.layers["OPL"]))
    assert _corr(images["OCTA(ILM_OPL)"], slab) > 0.95
    assert _corr(images["OCTA(ILM_OPL)"], slab) > _corr(images["OCTA(OPL_BM)"], slab) + 0.1
    # large vessels shadow the OCT below them: dark in the OCT maps
    assert images["OCT(OPL_BM)"][written["GT_LargeVessel"]].mean() < images["OCT(OPL_BM)"].mean()
    # nothing else in the tree
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Label", "OCTA_6mm"]
    assert sorted(p.name for p in (tmp_path / "OCTA_6mm").iterdir()) == ["OCT", "OCTA", "Projection Maps"]


def test_write_subject_without_extras(tmp_path: Path, small: SyntheticSubject) -> None:
    write_subject(tmp_path, SyntheticSubject(5, small.octa, small.label))
    assert sorted(p.name for p in (tmp_path / "OCTA_6mm").iterdir()) == ["OCTA"]
    assert sorted(p.name for p in (tmp_path / "Label").iterdir()) == ["GT_LargeVessel"]


def test_write_subject_maps_only(tmp_path: Path, small: SyntheticSubject) -> None:
    """volumes=False (octaseg synth --maps-only): the maps, masks and label, no B-scans."""
    write_subject(tmp_path, small, volumes=False)
    assert sorted(p.name for p in (tmp_path / "OCTA_6mm").iterdir()) == ["Projection Maps"]
    maps = tmp_path / "OCTA_6mm" / "Projection Maps"
    assert len(list(maps.glob("*/10001.bmp"))) == 6
    labels = sorted(p.name for p in (tmp_path / "Label").iterdir())
    assert labels == ["GT_Capillary", "GT_FAZ", "GT_LargeVessel"]
    ilm_opl = _read(maps / "OCTA(ILM_OPL)" / "10001.bmp")
    assert np.array_equal(ilm_opl, orient(synth.official_maps(small)["OCTA(ILM_OPL)"], "flipud"))


def test_write_subject_replaces_and_orients(tmp_path: Path) -> None:
    first = generate_subject(10301, seed=0, **SMALL)
    write_subject(tmp_path, first, fov="3mm", orientation="fliplr")
    folder = tmp_path / "OCTA_3mm" / "OCTA" / "10301"
    (folder / "999.bmp").write_bytes(b"stale")  # an old complete folder is replaced whole
    second = generate_subject(10301, seed=1, **SMALL)
    write_subject(tmp_path, second, fov="3mm", orientation="fliplr")
    assert len(list(folder.iterdir())) == 64
    assert np.array_equal(_read(folder / "1.bmp"), second.octa[0])
    assert np.array_equal(_read(tmp_path / "OCTA_3mm" / "OCT" / "10301" / "1.bmp"), second.oct[0])
    for name, mask in (
        ("GT_LargeVessel", second.label),
        ("GT_FAZ", second.faz),
        ("GT_Capillary", second.capillary),
    ):
        assert np.array_equal(_read(tmp_path / "Label" / name / "10301.bmp"), np.fliplr(mask))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["10301"]


def test_write_subject_failure_leaves_nothing_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = generate_subject(10002, seed=0, **SMALL)
    real_imwrite = cv2.imwrite
    calls = {"n": 0}

    def failing_imwrite(path: str, image: np.ndarray) -> bool:
        calls["n"] += 1
        if calls["n"] > 80:  # the OCT B-scans, the extra labels and the maps made it, not the OCTA
            raise OSError("disk full")
        return real_imwrite(path, image)

    monkeypatch.setattr(cv2, "imwrite", failing_imwrite)
    with pytest.raises(OSError, match="disk full"):
        write_subject(tmp_path, subject)
    base = tmp_path / "OCTA_6mm" / "OCTA"
    assert list(base.iterdir()) == []  # no subject folder, no temporary left behind
    assert not (tmp_path / "Label" / "GT_LargeVessel" / "10002.bmp").exists()
    # the OCT, the extra labels, the layers and the maps come first: harmless without the
    # OCTA folder
    assert sorted(p.name for p in (tmp_path / "Label").iterdir()) == ["GT_Capillary", "GT_FAZ", "GT_Layers"]


def test_write_subject_rejects_bad_arguments(tmp_path: Path, small: SyntheticSubject) -> None:
    with pytest.raises(ValueError, match="9mm"):
        write_subject(tmp_path, small, fov="9mm")
    with pytest.raises(ValueError, match="upside"):
        write_subject(tmp_path, small, orientation="upside")
    with pytest.raises(ValueError, match=r"\(10, 64\)"):
        write_subject(tmp_path, SyntheticSubject(1, small.octa, small.label[:10]))
    with pytest.raises(ValueError, match="GT_FAZ"):
        write_subject(tmp_path, dataclasses.replace(small, faz=small.faz[:, :5]))
    with pytest.raises(ValueError, match="oct"):
        write_subject(tmp_path, dataclasses.replace(small, oct=small.oct[:, :10]))
    assert list(tmp_path.iterdir()) == []
