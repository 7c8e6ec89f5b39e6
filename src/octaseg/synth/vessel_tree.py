"""Stage 2, vessel tree: arcade trunks grown from the optic disc, their branches and
twigs, and radii by Murray's law."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from octaseg.synth.anatomy import Anatomy
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
