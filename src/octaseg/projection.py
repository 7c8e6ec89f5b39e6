"""En-face projections of OCTA volumes and their orientation to the label frame.

A volume is stored as V[scan, depth, x] (B-scans stacked along the slow axis). Its
projection over depth is P[scan, x]. Label images of OCTA-500 are in another frame:
for 6mm they equal ``np.flipud(P)``, for 3mm probably ``np.fliplr(P)``. The transform
that takes P to the label frame is a setting per field of view, one of the eight
flips/rotations named in :data:`TRANSFORMS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: The eight symmetries of the square, by name: each maps P[scan, x] to the label frame.
#: They act on the first two axes, so a volume (scan, x, depth) turns slice by slice.
TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda a: a,
    "flipud": np.flipud,
    "fliplr": np.fliplr,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, 3),
    "transpose": lambda a: np.swapaxes(a, 0, 1),
    "antitranspose": lambda a: np.swapaxes(np.rot90(a, 2), 0, 1),
}


def orient(image: np.ndarray, transform: str) -> np.ndarray:
    """Apply the named transform to the first two axes of an image (H, W) or stack
    (H, W, C) and return a contiguous copy."""
    try:
        fn = TRANSFORMS[transform]
    except KeyError:
        raise ValueError(
            f"unknown orientation transform {transform!r}; expected one of {sorted(TRANSFORMS)}"
        ) from None
    if image.ndim not in (2, 3):
        raise ValueError(f"orient expects an image (H, W) or (H, W, C), got shape {image.shape}")
    return np.ascontiguousarray(fn(image))


def mean_projection(volume: np.ndarray) -> np.ndarray:
    """Mean over depth of a volume (scan, depth, x) -> float32 (scan, x)."""
    if volume.ndim != 3:
        raise ValueError(f"expected a volume shaped (scan, depth, x), got shape {volume.shape}")
    return volume.mean(axis=1, dtype=np.float32)


def resample_depth(volume: np.ndarray, depth: int) -> np.ndarray:
    """Resample a volume (scan, depth, x) along depth to ``depth`` rows by area averaging
    -> float32 (scan, depth, x). 640 -> 160 averages bins of 4 rows, as IPN-V2 does."""
    if volume.ndim != 3:
        raise ValueError(f"expected a volume shaped (scan, depth, x), got shape {volume.shape}")
    scans, rows, width = volume.shape
    if depth < 1 or depth > rows:
        raise ValueError(f"cannot resample {rows} depth rows to {depth}")
    if rows % depth == 0:
        return volume.reshape(scans, depth, rows // depth, width).mean(axis=2, dtype=np.float32)
    import cv2

    return np.stack(
        [cv2.resize(b.astype(np.float32), (width, depth), interpolation=cv2.INTER_AREA) for b in volume]
    )


def volume_to_label_frame(volume: np.ndarray, transform: str) -> np.ndarray:
    """A volume (scan, depth, x) as (H, W, depth) in the label frame: every depth slice
    oriented like the mean projection, depth last (an image with depth channels)."""
    return orient(np.moveaxis(volume, 1, 2), transform)


#: The transform that undoes each transform.
INVERSE = {name: name for name in TRANSFORMS} | {"rot90": "rot270", "rot270": "rot90"}


class OrientationError(ValueError):
    """A label does not match its projection in the configured orientation."""


def orientation_scores(projection: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Pearson correlation of a label (H, W) with each of the 8 flips/rotations of a
    projection P[scan, x] (those of the label's shape)."""
    target = np.asarray(label, np.float64).ravel()
    scores = {}
    for name in TRANSFORMS:
        candidate = orient(np.asarray(projection, np.float64), name)
        if candidate.shape != label.shape:
            continue
        c = candidate.ravel()
        denom = c.std() * target.std()
        scores[name] = float(((c - c.mean()) * (target - target.mean())).mean() / denom) if denom else 0.0
    return scores


def check_orientation(
    oriented: np.ndarray, label: np.ndarray, transform: str, subject: int | str, margin: float = 0.05
) -> dict[str, float]:
    """Check that ``transform`` is clearly the best of the 8 at matching the label.

    ``oriented`` is the projection already turned by ``transform`` (the workflow's
    results/projections). Returns the scores; raises :class:`OrientationError` naming the
    subject, the configured and the best-matching transform when another transform
    correlates better, or when the configured one leads by less than ``margin``.
    """
    scores = orientation_scores(orient(oriented, INVERSE[transform]), label)
    ranked = sorted(scores, key=scores.get, reverse=True)
    best, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    lead = scores[transform] - max((scores[n] for n in scores if n != transform), default=-1.0)
    if best != transform or lead < margin:
        shown = ", ".join(f"{n} {scores[n]:.3f}" for n in ranked[:3])
        raise OrientationError(
            f"subject {subject}: the label does not match the projection in the configured orientation "
            f"{transform!r} (correlation {scores[transform]:.3f}); best match is {best!r} "
            f"(correlations: {shown}{', ...' if second else ''}). "
            "Check the orientation setting or the label file."
        )
    return scores


def max_projection(volume: np.ndarray) -> np.ndarray:
    """Maximum over depth of a volume (scan, depth, x) -> float32 (scan, x)."""
    if volume.ndim != 3:
        raise ValueError(f"expected a volume shaped (scan, depth, x), got shape {volume.shape}")
    return volume.max(axis=1).astype(np.float32)


#: How a projection reduces the depth rows it spans.
REDUCTIONS = ("mean", "max")


def slab_projection(
    volume: np.ndarray, top: np.ndarray, bottom: np.ndarray, reduce: str = "mean"
) -> np.ndarray:
    """Project each A-scan of a volume (scan, depth, x) over its own rows from ``top``
    (included) to ``bottom`` (excluded), surfaces of depth rows (scan, x) rounded to the
    nearest row -> float32 (scan, x). An A-scan whose slab is empty projects to 0.

    Only the rows some slab reaches are visited, one depth row at a time, so a slab of a
    full 6mm volume takes tens of milliseconds (bench/bench_slab.py).
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if volume.ndim != 3:
        raise ValueError(f"expected a volume shaped (scan, depth, x), got shape {volume.shape}")
    scans, depth, width = volume.shape
    for name, surface in (("top", top), ("bottom", bottom)):
        if np.shape(surface) != (scans, width):
            raise ValueError(f"{name} surface must be (scan, x) = {(scans, width)}, got {np.shape(surface)}")
    start = np.clip(np.rint(top), 0, depth).astype(np.int16)
    stop = np.clip(np.rint(bottom), 0, depth).astype(np.int16)
    stop = np.maximum(stop, start)
    acc = np.zeros((scans, width), np.float32)
    inside = np.empty((scans, width), bool)
    above = np.empty((scans, width), bool)
    combine = np.add if reduce == "mean" else np.maximum
    for d in range(int(start.min()), int(stop.max())):
        np.less_equal(start, d, out=inside)
        np.greater(stop, d, out=above)
        inside &= above
        combine(acc, volume[:, d, :], out=acc, where=inside)
    if reduce == "mean":
        count = (stop - start).astype(np.float32)
        np.divide(acc, count, out=acc, where=count > 0)
    return acc


def project(
    volume: np.ndarray, reduce: str = "mean", top: np.ndarray | None = None, bottom: np.ndarray | None = None
) -> np.ndarray:
    """The en-face projection (scan, x) of a volume (scan, depth, x): over the whole depth
    (no surfaces) or over the slab between two surfaces (see :func:`slab_projection`)."""
    if top is None and bottom is None:
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
        return mean_projection(volume) if reduce == "mean" else max_projection(volume)
    if top is None or bottom is None:
        raise ValueError("a slab projection needs both a top and a bottom surface")
    return slab_projection(volume, top, bottom, reduce)


# --------------------------------------------------------------------------- channels

#: How each channel reduces depth when named without a reduction, and how the synthetic
#: generator makes its official-style maps: the mean everywhere. (OCTA-500's paper may
#: describe maximum projections for its OCTA slab maps; on the synthetic volumes, whose
#: flow signal saturates, a maximum turns a quarter of the slab white, so the mean it
#: is; ``OCTA(ILM_OPL):max`` asks for the maximum.)
MAP_REDUCTIONS: dict[tuple[str, str], str] = {
    ("OCTA", "FULL"): "mean",
    ("OCTA", "ILM_OPL"): "mean",
    ("OCTA", "OPL_BM"): "mean",
    ("OCT", "FULL"): "mean",
    ("OCT", "ILM_OPL"): "mean",
    ("OCT", "OPL_BM"): "mean",
}
_CHANNEL = re.compile(r"^(OCTA|OCT)\((FULL|ILM_OPL|OPL_BM)\)(?::(mean|max))?$")


@dataclass(frozen=True)
class Channel:
    """One en-face input channel, named as OCTA-500's map folders: ``OCTA(FULL)``,
    ``OCTA(ILM_OPL)``, ``OCT(OPL_BM)`` ..., optionally with a reduction (``OCTA(FULL):max``)."""

    modality: str  # OCTA or OCT
    slab: str  # FULL, ILM_OPL or OPL_BM
    reduce: str  # mean or max

    @classmethod
    def parse(cls, name: str) -> Channel:
        match = _CHANNEL.match(str(name))
        if not match:
            raise ValueError(
                f"bad channel {name!r}; expected <OCTA|OCT>(<FULL|ILM_OPL|OPL_BM>), optionally "
                "followed by :mean or :max, e.g. OCTA(ILM_OPL)"
            )
        modality, slab, reduce = match.groups()
        return cls(modality, slab, reduce or MAP_REDUCTIONS[(modality, slab)])

    @property
    def map_folder(self) -> str:
        """The folder of OCTA-500's map of this channel: ``OCTA(ILM_OPL)``."""
        return f"{self.modality}({self.slab})"

    @property
    def key(self) -> str:
        """A file-name-safe name: ``octa_ilm_opl_max``."""
        return f"{self.modality}_{self.slab}_{self.reduce}".lower()

    @classmethod
    def from_key(cls, key: str) -> Channel:
        modality, rest = key.split("_", 1)
        slab, reduce = rest.rsplit("_", 1)
        return cls(modality.upper(), slab.upper(), reduce)
