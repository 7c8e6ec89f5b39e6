"""Stage 2b, vessel growth by space colonization (after Runions et al. 2005, as Kreitner et
al., IEEE TMI 2024, grow retinal vessels).

Tissue needs blood: each iteration scatters *oxygen sinks* over the area not yet served
(outside the FAZ, away from vessels and from other sinks). Each sink attracts its nearest
vessel node, artery or vein, within the perception distance:

- a **tip** sees the sinks ahead of it (within ``cone`` of its heading) and steps towards
  their mean direction, keeping some of its heading (``persistence``) and turning a little
  at random (``wiggle``); where the sinks it sees lie apart (the angles to them spread
  more than ``fork_spread``), it **forks** into two tips instead;
- a node **along** a vessel sees the sinks beside it (``lateral``) and may sprout a side
  branch towards them.

A sink a new node reaches is satisfied and removed. Arteries and veins compete for the
same sinks, so their territories interdigitate. Lengths start long and shrink each
iteration (``1 / (1 + rate * t)``, down to ``colonize_min_step_mm``): the first vessels
take long strides, the last fill the gaps finely. Near the FAZ tips turn to run around
it (terminal arcades). No step enters the FAZ or lands on another vessel, so vessels do
not cross.

Arrays: ``points`` float64 (N, 2) mm, ``parent`` int64 (N,) (-1 for a root, parents
precede children), ``kind`` int8 (N,) (0 artery, 1 vein).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from octaseg.synth.anatomy import Anatomy
from octaseg.synth.params import SynthParams

Bounds = tuple[float, float, float, float]  # (x0, y0, x1, y1) mm


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``v`` (N, 2) scaled to unit length."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _rotate(v: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rows of ``v`` (N, 2) rotated by ``angle`` (N,) radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], axis=1)


def _inside(pos: np.ndarray, bounds: Bounds) -> np.ndarray:
    x0, y0, x1, y1 = bounds
    return (pos[:, 0] > x0) & (pos[:, 0] < x1) & (pos[:, 1] > y0) & (pos[:, 1] < y1)


class Forest:
    """Growing node arrays: positions, parents, kinds, child counts and unit headings."""

    def __init__(self, points: np.ndarray, parent: np.ndarray, kind: np.ndarray) -> None:
        n = len(points)
        self.n = n
        self.points, self.parent = points.astype(np.float64), parent.astype(np.int64)
        self.kind = kind.astype(np.int8)
        self.nchild = np.bincount(self.parent[self.parent >= 0], minlength=n)
        step = np.zeros((n, 2))
        has = self.parent >= 0
        step[has] = self.points[has] - self.points[self.parent[has]]
        kids = np.flatnonzero(has)
        of_root = kids[~has[self.parent[kids]]]
        step[self.parent[of_root]] = step[of_root]  # a root heads towards its child
        self.heading = _unit(step)

    def add(self, pos: np.ndarray, par: np.ndarray) -> np.ndarray:
        """Append nodes at ``pos`` (M, 2) with parents ``par`` (M,); returns their indices."""
        idx = np.arange(self.n, self.n + len(pos))
        self.points = np.concatenate([self.points, pos])
        self.parent = np.concatenate([self.parent, par])
        self.kind = np.concatenate([self.kind, self.kind[par]])
        self.nchild = np.concatenate([self.nchild, np.zeros(len(pos), np.int64)])
        np.add.at(self.nchild, par, 1)
        self.heading = np.concatenate([self.heading, _unit(pos - self.points[par])])
        self.n += len(pos)
        return idx


def sample_sinks(
    rng: np.random.Generator,
    anat: Anatomy,
    bounds: Bounds,
    nodes: np.ndarray,
    sinks: np.ndarray,
    count: int,
    gaps: tuple[float, float, float],
) -> np.ndarray:
    """``sinks`` (S, 2) plus up to ``count`` new ones drawn uniformly in ``bounds``, each
    at least ``gaps`` = (node, sink, FAZ) mm from the nodes (N, 2), the other sinks and
    the FAZ."""
    node_gap, sink_gap, faz_gap = gaps
    cand = rng.uniform(bounds[:2], bounds[2:], size=(count, 2))
    cand = cand[anat.faz_distance(cand[:, 0], cand[:, 1]) > faz_gap]
    for others, gap in ((nodes, node_gap), (sinks, sink_gap)):
        if len(others) and len(cand):
            dist, _ = cKDTree(others).query(cand, distance_upper_bound=gap)
            cand = cand[~np.isfinite(dist)]
    if len(cand) > 1:  # and apart from each other
        pairs = cKDTree(cand).query_pairs(sink_gap, output_type="ndarray")
        keep = np.ones(len(cand), dtype=bool)
        keep[pairs[:, 1]] = False
        cand = cand[keep]
    return np.concatenate([sinks, cand])


@dataclass(frozen=True)
class _Pull:
    """The sinks' pull on each attracted node: ``node`` (K,) indices, ``count`` (K,),
    ``direction`` (K, 2) unit mean direction, ``spread`` (K,) s.d. of the angles (rad)."""

    node: np.ndarray
    count: np.ndarray
    direction: np.ndarray
    spread: np.ndarray


def _pull(forest: Forest, sinks: np.ndarray, perception: float, p: SynthParams) -> _Pull:
    """Assign each sink to its nearest node that can still grow (fewer than two children)
    within ``perception`` mm, keep those a tip sees ahead or a vessel beside it, and
    aggregate per node."""
    active = np.flatnonzero(forest.nchild < 2)
    empty = _Pull(*(np.zeros(0, np.int64),) * 2, np.zeros((0, 2)), np.zeros(0))
    if len(active) == 0 or len(sinks) == 0:
        return empty
    dist, j = cKDTree(forest.points[active]).query(sinks, distance_upper_bound=perception)
    seen = np.isfinite(dist)
    node = active[j[seen]]
    u = _unit(sinks[seen] - forest.points[node])
    h = forest.heading[node]
    signed = np.arctan2(h[:, 0] * u[:, 1] - h[:, 1] * u[:, 0], np.sum(h * u, axis=1))
    angle = np.abs(signed)
    tip = forest.nchild[node] == 0
    lo, hi = p.colonize_lateral
    ok = np.where(tip, angle <= p.colonize_cone, (angle >= lo) & (angle <= hi))
    if not ok.any():
        return empty
    signed = signed[ok]
    uniq, inv = np.unique(node[ok], return_inverse=True)
    count = np.bincount(inv)
    total = np.stack([np.bincount(inv, u[ok, 0]), np.bincount(inv, u[ok, 1])], axis=1)
    mean = np.bincount(inv, signed) / count
    spread = np.sqrt(np.maximum(np.bincount(inv, signed**2) / count - mean**2, 0.0))
    return _Pull(uniq, count, _unit(total), spread)


def _tip_moves(
    rng: np.random.Generator, anat: Anatomy, forest: Forest, pull: _Pull, step: float, p: SynthParams
) -> tuple[np.ndarray, np.ndarray]:
    """New nodes (M, 2) and their parents (M,) for the attracted tips: a step towards the
    sinks (turning around the FAZ when near it), or a fork where the sinks lie apart."""
    tips = forest.nchild[pull.node] == 0
    node, direction = pull.node[tips], pull.direction[tips]
    pos, heading = forest.points[node], forest.heading[node]
    faz = anat.faz_distance(pos[:, 0], pos[:, 1])
    fork = (pull.spread[tips] > p.colonize_fork_spread) & (pull.count[tips] >= 2)
    fork &= faz > 2 * p.colonize_rotation_mm
    g = _unit(p.colonize_persistence * heading + (1 - p.colonize_persistence) * direction)
    g = _rotate(g, rng.normal(0.0, p.colonize_wiggle, len(g)))
    inward = _unit(np.asarray(anat.fovea) - pos)
    around = np.stack([-inward[:, 1], inward[:, 0]], axis=1)
    around *= np.where(np.sum(around * g, axis=1) < 0, -1.0, 1.0)[:, None]
    w = np.clip(1.0 - faz / p.colonize_rotation_mm, 0.0, 1.0)[:, None] ** 2
    g = _unit((1 - w) * g + w * (0.8 * around - 0.2 * inward))
    spread = rng.uniform(*p.colonize_fork_angle, size=(2, int(fork.sum())))
    moves = [pos[~fork] + step * g[~fork]]
    for sign, a in zip((1, -1), spread, strict=True):
        moves.append(pos[fork] + step * _rotate(direction[fork], sign * a))
    return np.concatenate(moves), np.concatenate([node[~fork], node[fork], node[fork]])


def _sprout_moves(
    rng: np.random.Generator, anat: Anatomy, forest: Forest, pull: _Pull, step: float, p: SynthParams
) -> tuple[np.ndarray, np.ndarray]:
    """Side branches (M, 2) from attracted nodes along vessels, parents (M,): with
    probability ``colonize_sprout``, not at a node right after a fork nor at the FAZ."""
    node, direction = pull.node, pull.direction
    par = forest.parent[node]
    pos = forest.points[node]
    ok = (forest.nchild[node] == 1) & (rng.random(len(node)) < p.colonize_sprout)
    ok &= (par < 0) | (forest.nchild[np.maximum(par, 0)] < 2)
    ok &= anat.faz_distance(pos[:, 0], pos[:, 1]) > 0.1
    return pos[ok] + step * direction[ok], node[ok]


def grow_step(
    rng: np.random.Generator,
    anat: Anatomy,
    forest: Forest,
    sinks: np.ndarray,
    lengths: tuple[float, float],
    bounds: Bounds,
    p: SynthParams,
) -> np.ndarray:
    """One growth step of the vessels towards ``sinks`` (S, 2) with ``lengths`` = (step,
    perception) mm; returns the indices of the new nodes."""
    step, perception = lengths
    pull = _pull(forest, sinks, perception, p)
    if len(pull.node) == 0:
        return np.zeros(0, np.int64)
    tip_pos, tip_par = _tip_moves(rng, anat, forest, pull, step, p)
    side_pos, side_par = _sprout_moves(rng, anat, forest, pull, step, p)
    pos, par = np.concatenate([tip_pos, side_pos]), np.concatenate([tip_par, side_par])
    keep = (anat.faz_distance(pos[:, 0], pos[:, 1]) > 0.0) & _inside(pos, bounds)
    dist, near = cKDTree(forest.points).query(pos, distance_upper_bound=p.colonize_clearance * step)
    keep &= ~np.isfinite(dist) | (near == par)  # no step onto another vessel
    close = cKDTree(pos).query_pairs(p.colonize_clearance * step, output_type="ndarray")
    close = close[par[close[:, 0]] != par[close[:, 1]]]  # a fork's two branches may start close
    keep[close[:, 1]] = False  # nor onto another new one
    return forest.add(pos[keep], par[keep])


def _satisfied(sinks: np.ndarray, nodes: np.ndarray, reach: float) -> np.ndarray:
    """bool (S,): sinks within ``reach`` mm of any of ``nodes`` (N, 2)."""
    if len(sinks) == 0 or len(nodes) == 0:
        return np.zeros(len(sinks), dtype=bool)
    dist, _ = cKDTree(nodes).query(sinks, distance_upper_bound=reach)
    return np.isfinite(dist)


def colonize(
    rng: np.random.Generator, anat: Anatomy, forest: Forest, bounds: Bounds, p: SynthParams
) -> Forest:
    """Grow the vessels of ``forest`` over ``bounds`` by space colonization for
    ``colonize_iterations`` iterations (see the module docstring)."""
    sinks = np.zeros((0, 2))
    faz_gap = rng.uniform(*p.colonize_faz_gap_mm)
    for t in range(p.colonize_iterations):
        step = max(p.colonize_step_mm / (1.0 + p.colonize_rate * t), p.colonize_min_step_mm)
        scale = step / p.colonize_step_mm
        gaps = (p.colonize_sink_gap_mm * scale, p.colonize_sink_spacing_mm * scale, faz_gap)
        sinks = sample_sinks(rng, anat, bounds, forest.points, sinks, p.colonize_sinks, gaps)
        lengths = (step, p.colonize_perception_mm * np.sqrt(scale))
        new = grow_step(rng, anat, forest, sinks, lengths, bounds, p)
        sinks = sinks[~_satisfied(sinks, forest.points[new], p.colonize_reach_mm * scale)]
    return forest
