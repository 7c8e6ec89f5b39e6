"""Stage 2, vessel tree: arcade trunks grown from the optic disc and stumps entering from
the edges, grown on by space colonization, and radii by Murray's law."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from octaseg.synth.anatomy import Anatomy
from octaseg.synth.colonization import Forest, colonize
from octaseg.synth.params import SynthParams


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


def _arcade_trunks(
    rng: np.random.Generator, anat: Anatomy, p: SynthParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The superior and inferior arcade, an artery and a vein each, as chains of nodes:
    points (N, 2) mm, parent (N,), kind (N,) (0 artery, 1 vein); roots at the disc."""
    pts, par, kind = [], [], []
    n = 0
    for vertical in (-1, 1):
        # the artery and the vein of an arcade run apart, one often outside the field
        inner = rng.uniform(*p.arcade_mm)
        outer = inner + rng.uniform(*p.arcade_gap_mm)
        for k, a_mid in enumerate((inner, outer) if rng.random() < 0.5 else (outer, inner)):
            trunk = _grow_trunk(rng, anat, vertical, a_mid, p)
            chain = np.arange(n - 1, n - 1 + len(trunk))
            chain[0] = -1
            pts.append(trunk)
            par.append(chain)
            kind.append(np.full(len(trunk), k))
            n += len(trunk)
    return np.concatenate(pts), np.concatenate(par), np.concatenate(kind)


def _stumps(
    rng: np.random.Generator, bounds: tuple[float, float, float, float], count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` vessels entering the grown area from its edges, a root on the edge and one
    node 0.1 mm inwards each, alternately artery and vein: points (2 count, 2), parent,
    kind."""
    x0, y0, x1, y1 = bounds
    w, h = x1 - x0, y1 - y0
    pts, par, kind = [], [], []
    for i, u in enumerate(np.sort(rng.uniform(0.0, 2 * (w + h), count))):
        if u < w:
            root, inward = (x0 + u, y0), (0.0, 1.0)
        elif u < w + h:
            root, inward = (x1, y0 + u - w), (-1.0, 0.0)
        elif u < 2 * w + h:
            root, inward = (x1 - (u - w - h), y1), (0.0, -1.0)
        else:
            root, inward = (x0, y1 - (u - 2 * w - h)), (1.0, 0.0)
        pts += [root, (root[0] + 0.1 * inward[0], root[1] + 0.1 * inward[1])]
        par += [-1, 2 * i]
        kind += [i % 2, i % 2]
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2), np.asarray(par), np.asarray(kind)


def _roots(
    rng: np.random.Generator, anat: Anatomy, bounds: tuple[float, float, float, float], p: SynthParams
) -> tuple[Forest, np.ndarray]:
    """What the vessels grow from: the arcade trunks (first) and the edge stumps, as a
    :class:`Forest`, and the trunks' parent array (N_trunk,)."""
    trunk_pts, trunk_par, trunk_kind = _arcade_trunks(rng, anat, p)
    stump_pts, stump_par, stump_kind = _stumps(rng, bounds, p.stumps)
    n = len(trunk_pts)
    forest = Forest(
        np.concatenate([trunk_pts, stump_pts]),
        np.concatenate([trunk_par, np.where(stump_par >= 0, stump_par + n, -1)]),
        np.concatenate([trunk_kind, stump_kind]),
    )
    return forest, trunk_par


def grow_vessel_tree(rng: np.random.Generator, anat: Anatomy, p: SynthParams) -> VesselTree:
    """Grow the retinal vessel forest: arcade trunks from the disc and stumps from the
    edges, grown by space colonization (:mod:`octaseg.synth.colonization`), smoothed,
    then radii by Murray's law.

    Returns a :class:`VesselTree` in mm with radii in um.
    """
    bounds = _growth_bounds(anat, p)
    forest, trunk_par = _roots(rng, anat, bounds, p)
    n = len(trunk_par)
    forest = colonize(rng, anat, forest, bounds, p)
    pts = _smooth_chains(forest.points, forest.parent, p.smooth_iterations)
    roots = np.flatnonzero(trunk_par < 0)
    ends = list(zip(roots.tolist(), (np.append(roots[1:], n) - 1).tolist(), strict=True))
    # veins (second of each pair) are wider than arteries; stumps are narrower
    trunk_r = np.sort(rng.uniform(*p.trunk_radius_um, size=(2, 2)), axis=1).ravel()
    root_r = np.concatenate([trunk_r, rng.uniform(*p.stump_radius_um, size=p.stumps)])
    periphery = (p.periphery, p.side_periphery, p.side_periphery_mm)
    flow_demand = demand(anat, pts, p)
    radius = _murray_radii(pts, forest.parent, root_r, ends, *periphery, flow_demand, p.murray_exponent)
    if p.vessel_radius_sd > 0:
        radius = radius * _vessel_factor(rng, forest.parent, radius, p.vessel_radius_sd)
    return VesselTree(
        points=pts, parent=forest.parent, radius=radius, start_radius=_start_radii(forest.parent, radius)
    )


def demand(anat: Anatomy, points: np.ndarray, p: SynthParams) -> np.ndarray:
    """The flow drawn per mm of vessel at ``points`` (N, 2) mm -> (N,): 1 far out, up to
    ``1 + macula_demand`` at the FAZ's edge, where the capillary layers are densest."""
    d = np.maximum(anat.faz_distance(points[:, 0], points[:, 1]), 0.0)
    return 1.0 + p.macula_demand * np.exp(-d / p.macula_demand_mm)


def _main_child(parent: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Whether each node continues its parent's vessel, bool (N,): it is the parent's
    widest child (roots: False)."""
    n = len(parent)
    kids = np.flatnonzero(parent >= 0)
    widest = np.zeros(n)
    np.maximum.at(widest, parent[kids], radius[kids])
    main = np.zeros(n, dtype=bool)
    main[kids] = radius[kids] >= widest[parent[kids]]
    return main


def _vessel_factor(rng: np.random.Generator, parent: np.ndarray, radius: np.ndarray, sd: float) -> np.ndarray:
    """A lognormal factor per vessel (log s.d. ``sd``), float64 (N,): each vessel (a root or
    a side branch, on through its widest children) is wider or thinner than Murray's law
    makes it as a whole, as real vessels of the same flow are."""
    main = _main_child(parent, radius)
    factor = np.exp(sd * rng.standard_normal(len(parent)))
    out = factor.tolist()
    par = parent.tolist()
    for i in np.flatnonzero(main).tolist():  # parents precede children
        out[i] = out[par[i]]
    return np.asarray(out)


def _start_radii(parent: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """For each node, the radius at the start of its vessel (see :class:`VesselTree`)."""
    start = radius.copy()
    par, rad = parent.tolist(), start.tolist()
    for i in np.flatnonzero(_main_child(parent, radius)).tolist():  # parents precede children
        rad[i] = rad[par[i]]
    start[:] = rad
    return start


def _murray_radii(
    points: np.ndarray,
    parent: np.ndarray,
    root_radius_um: np.ndarray,
    trunks: list[tuple[int, int]] = (),
    periphery: float = 0.0,
    side_periphery: float = 0.0,
    side_mm: tuple[float, float] = (0.0, 0.0),
    demand: np.ndarray | None = None,
    exponent: float = 3.0,
) -> np.ndarray:
    """Radii (um) by Murray's law with flow that leaks into capillaries along each vessel.

    The flow entering a segment is proportional to the vessel length it feeds (the
    segment and everything downstream), each segment weighted by its ``demand`` (N,)
    (default 1), and ``r**3`` is proportional to that flow. Flows add
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
    fed = seg * (1.0 if demand is None else demand)  # flow through the segment to node i
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
    scale[roots] = np.asarray(root_radius_um, dtype=np.float64)[: len(roots)] ** exponent / np.maximum(
        fed[roots], 1e-12
    )
    return (scale[root] * fed) ** (1.0 / exponent)


def _smooth_chains(pts: np.ndarray, parent: np.ndarray, iterations: int) -> np.ndarray:
    """Laplacian smoothing of every node between its parent and its main child (the one
    that feeds the most nodes), so a vessel stays smooth through the forks where its side
    branches leave; roots and ends stay."""
    n = len(parent)
    size = np.ones(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):  # parents precede children
        if parent[i] >= 0:
            size[parent[i]] += size[i]
    main_child = np.full(n, -1, dtype=np.int64)
    for i in np.flatnonzero(parent >= 0).tolist():
        j = parent[i]
        if main_child[j] < 0 or size[i] > size[main_child[j]]:
            main_child[j] = i
    inner = np.flatnonzero((parent >= 0) & (main_child >= 0))
    out = pts.copy()
    for _ in range(iterations):
        out[inner] = 0.5 * out[inner] + 0.25 * (out[parent[inner]] + out[main_child[inner]])
    return out
