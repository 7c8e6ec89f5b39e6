"""Retinal layer surfaces: OCTA-500's ``GT_Layers`` files, and an estimate from the OCT volume.

A surface is the depth row of a layer boundary for every A-scan, float32 (scan, x): the
frame of the volume V[scan, depth, x], before any orientation to the label frame. OCTA-500
ships six surfaces per subject in ``Label/GT_Layers/<id>.mat`` (MATLAB v5, ``Layer``,
uint16 (6, scan, x)), in the order of :data:`SURFACES`. Without that file
:func:`estimate_surfaces` finds the three that the standard slabs need (ILM, OPL, BM)
from intensity-gradient peaks along depth of the OCT volume.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import h5py
import numpy as np
from scipy.ndimage import gaussian_filter1d

from octaseg import __version__
from octaseg.io import InputError, atomic_path

#: OCTA-500's surfaces, in the order of GT_Layers: inner limiting membrane, the lower
#: boundaries of the inner and outer plexiform layers, the photoreceptors' inner/outer
#: segment junction, the retinal pigment epithelium and Bruch's membrane.
SURFACES = ("ILM", "IPL", "OPL", "ISOS", "RPE", "BM")
#: The surfaces :func:`estimate_surfaces` finds.
ESTIMATED = ("ILM", "OPL", "BM")
#: The slabs of OCTA-500's projection maps: FULL is the whole depth, the others lie
#: between two surfaces (top included, bottom excluded).
SLABS: dict[str, tuple[str, str] | None] = {"FULL": None, "ILM_OPL": ("ILM", "OPL"), "OPL_BM": ("OPL", "BM")}
_REF_DEPTH = 640  # depth rows of an OCTA-500 B-scan: the windows below are given for it


# --------------------------------------------------------------------------- files


def read_gt_layers(path: str | Path, shape: tuple[int, int] | None = None, depth: int | None = None) -> dict:
    """Read an OCTA-500 ``GT_Layers/<id>.mat``: surface name -> float32 (scan, x).

    The file holds ``Layer`` (6, scan, x), depth rows of :data:`SURFACES`. MATLAB v5 files
    are read with SciPy, v7.3 (HDF5) files with h5py. ``shape`` (scan, x) and ``depth``,
    when given, are checked.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: expected a GT_Layers .mat file, found none")
    layer = _read_mat_variable(path, "Layer")
    if layer.ndim != 3 or layer.shape[0] != len(SURFACES):
        raise InputError(
            f"{path}: expected 'Layer' of shape ({len(SURFACES)}, scan, x) for {', '.join(SURFACES)}, "
            f"found shape {layer.shape}"
        )
    if shape is not None and layer.shape[1:] != tuple(shape):
        raise InputError(
            f"{path}: expected surfaces of {shape[0]}x{shape[1]} A-scans, found {layer.shape[1:]}"
        )
    layer = layer.astype(np.float32)
    if not np.isfinite(layer).all():
        raise InputError(f"{path}: expected finite depth rows in 'Layer', found NaN or infinite values")
    if depth is not None and (layer.min() < 0 or layer.max() > depth):
        raise InputError(
            f"{path}: expected depth rows within 0..{depth}, found {layer.min():.0f}..{layer.max():.0f}"
        )
    return {name: layer[i] for i, name in enumerate(SURFACES)}


def _read_mat_variable(path: Path, name: str) -> np.ndarray:
    from scipy.io import loadmat, whosmat

    if h5py.is_hdf5(path):  # MATLAB v7.3: an HDF5 file, arrays stored transposed
        with h5py.File(path, "r") as f:
            if name not in f:
                raise InputError(f"{path}: expected a variable {name!r}, found {sorted(f)}")
            return np.asarray(f[name][()]).transpose()
    try:
        data = loadmat(path, variable_names=[name])
        if name not in data:
            found = sorted(v[0] for v in whosmat(path))
            raise InputError(f"{path}: expected a variable {name!r}, found {found}")
    except (ValueError, TypeError, OSError, NotImplementedError) as error:
        raise InputError(f"{path}: expected a MATLAB .mat file, found an unreadable file ({error})") from None
    return np.asarray(data[name])


def write_gt_layers(path: str | Path, surfaces: Mapping[str, np.ndarray]) -> None:
    """Write surfaces (all of :data:`SURFACES`, each (scan, x)) as OCTA-500 does:
    MATLAB v5 ``Layer`` uint16 (6, scan, x), depth rows rounded."""
    from scipy.io import savemat

    missing = [s for s in SURFACES if s not in surfaces]
    if missing:
        raise ValueError(f"GT_Layers needs all of {SURFACES}, missing {missing}")
    layer = np.stack([np.round(np.asarray(surfaces[s], np.float64)) for s in SURFACES])
    layer = np.clip(layer, 0, np.iinfo(np.uint16).max).astype(np.uint16)
    with atomic_path(path) as tmp:
        savemat(tmp, {"Layer": layer}, do_compression=True)


def write_surfaces(path: str | Path, surfaces: Mapping[str, np.ndarray], source: str) -> None:
    """Write surfaces (name -> float32 (scan, x)) to HDF5, one dataset per surface."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["surfaces"] = list(surfaces)
        f.attrs["source"] = source
        f.attrs["frame"] = "scan,x (the volume's frame, before orientation)"
        f.attrs["octaseg_version"] = __version__
        for name, surface in surfaces.items():
            f.create_dataset(name, data=np.asarray(surface, np.float32))


def read_surfaces(path: str | Path, names: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Surfaces written by :func:`write_surfaces`: all of them, or ``names`` (each must be there)."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        present = list(f.attrs.get("surfaces", list(f)))
        for name in names:
            if name not in present:
                raise InputError(f"{path}: expected surface {name!r}, found {present}")
        return {name: f[name][()] for name in (names or present)}


# --------------------------------------------------------------------------- estimation


def estimate_surfaces(oct_volume: np.ndarray) -> dict[str, np.ndarray]:
    """ILM, OPL (its lower boundary) and BM of an OCT volume (scan, depth, x) -> name ->
    float32 (scan, x) depth rows.

    A simple, robust method: the volume is averaged over 2 x 2 A-scans and smoothed
    (across A-scans more than along depth), and its depth gradient taken. Per A-scan,
    the ILM is the first strong rise from the dark vitreous (a rise of at least half the
    A-scan's largest), moved to the gradient's peak; the RPE is the brightest row
    between 60 and 200 rows (of 640) below the ILM, and the BM the steepest fall in the
    25 rows below it; the outer nuclear layer is the darkest row between the ILM and BM
    (35-90% of the way down), and the OPL the deepest strong fall above it. Each surface
    is then median-filtered and smoothed across A-scans, which removes the outliers of
    vessel shadows and speckle, and kept in order ILM <= OPL <= BM. Windows scale with
    depth / 640.
    """
    if oct_volume.ndim != 3:
        raise ValueError(f"expected an OCT volume (scan, depth, x), got shape {oct_volume.shape}")
    scans, depth, width = oct_volume.shape
    k = depth / _REF_DEPTH
    coarse = _coarse(oct_volume)  # (scan', depth, x'), smoothed
    grad = np.zeros_like(coarse)
    grad[:, 1:-1] = coarse[:, 2:] - coarse[:, :-2]
    window = lambda start, stop: _rows_between(depth, start, stop)  # noqa: E731

    rise = np.maximum(grad, 0.0)
    strong = rise >= 0.5 * rise.max(axis=1, keepdims=True)
    first = np.argmax(strong, axis=1)  # (scan', x'): the first strong rise
    ilm = _peak(grad, first, first + max(2, round(8 * k)), np.argmax)

    lo_rpe = ilm + 60 * k
    rpe = _masked_arg(coarse, window(lo_rpe, ilm + 200 * k), np.argmax)
    bm = _peak(grad, rpe, rpe + max(3, round(25 * k)), np.argmin)

    thick = np.maximum(bm - ilm, 4.0)
    onl = _masked_arg(coarse, window(ilm + 0.35 * thick, ilm + 0.9 * thick), np.argmin)
    inside = window(ilm + 0.2 * thick, onl + 1)
    fall = np.where(inside, -grad, 0.0)
    deepest_strong = inside & (fall >= 0.5 * fall.max(axis=1, keepdims=True)) & (fall > 0)
    last = np.where(deepest_strong.any(axis=1), depth - 1 - np.argmax(deepest_strong[:, ::-1], axis=1), onl)
    opl = _peak(grad, last - max(2, round(6 * k)), last + 1, np.argmin)

    out = {}
    for name, surface in (("ILM", ilm), ("OPL", opl), ("BM", bm)):
        out[name] = _smooth_surface(surface.astype(np.float32), (scans, width), depth)
    out["OPL"] = np.clip(out["OPL"], out["ILM"], None)
    out["BM"] = np.clip(out["BM"], out["OPL"], None)
    return out


def _coarse(volume: np.ndarray) -> np.ndarray:
    """float32 (ceil(scan/2), depth, ceil(x/2)): 2 x 2 A-scans averaged, then smoothed
    across A-scans (sigma 2 coarse px) and along depth (sigma 1.5 rows of 640)."""
    scans, depth, width = volume.shape
    v = volume
    if scans % 2:
        v = np.concatenate([v, v[-1:]], axis=0)
    if width % 2:
        v = np.concatenate([v, v[:, :, -1:]], axis=2)
    coarse = v[0::2, :, 0::2].astype(np.float32)  # summed from the uint8 volume, never copied whole
    for ds, dx in ((1, 0), (0, 1), (1, 1)):
        coarse += v[ds::2, :, dx::2]
    coarse *= 0.25
    sigma_depth = max(0.7, 1.5 * depth / _REF_DEPTH)
    for bscan in coarse:  # within each B-scan: along x and depth
        cv2.GaussianBlur(bscan, (0, 0), sigmaX=2.0, sigmaY=sigma_depth, dst=bscan)
    # across B-scans (OpenCV's kernel and border: 4 sigma, reflected without the edge)
    return gaussian_filter1d(coarse, 2.0, axis=0, mode="mirror", truncate=4.0, output=coarse)


def _rows_between(depth: int, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Mask (scan', depth, x') of the rows in [start, stop) of each A-scan (scan', x')."""
    rows = np.arange(depth)[None, :, None]
    return (rows >= start[:, None]) & (rows < stop[:, None])


def _masked_arg(values: np.ndarray, mask: np.ndarray, arg) -> np.ndarray:
    """Per A-scan, the row of the max (arg=np.argmax) or min of ``values`` where ``mask``;
    float (scan', x')."""
    fill = -np.inf if arg is np.argmax else np.inf
    return arg(np.where(mask, values, fill), axis=1).astype(np.float32)


def _peak(grad: np.ndarray, start: np.ndarray, stop: np.ndarray, arg) -> np.ndarray:
    """Per A-scan, the row of the gradient's max (or min) in [start, stop), refined to a
    sub-row position by a parabola through the peak and its neighbours."""
    depth = grad.shape[1]
    start = np.clip(np.asarray(start), 0, depth - 1)
    stop = np.clip(np.asarray(stop), start + 1, depth)
    peak = _masked_arg(grad, _rows_between(depth, start, stop), arg).astype(np.int64)
    peak = np.clip(peak, 1, depth - 2)
    take = lambda offset: np.take_along_axis(grad, (peak + offset)[:, None], axis=1)[:, 0]  # noqa: E731
    a, b, c = take(-1), take(0), take(1)
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-6, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    return peak + np.clip(shift, -0.5, 0.5)


def _smooth_surface(coarse: np.ndarray, shape: tuple[int, int], depth: int) -> np.ndarray:
    """A coarse surface (scan', x') median-filtered (5 x 5) and smoothed (sigma 2), then
    resized to the full (scan, x) grid and clipped to the volume's depth."""
    surface = cv2.medianBlur(coarse, 5) if min(coarse.shape) >= 5 else coarse
    surface = cv2.GaussianBlur(surface, (0, 0), 2.0)
    # pixel centres of the 2 x 2 averages: resize maps them back onto the full grid
    full = cv2.resize(surface, (2 * coarse.shape[1], 2 * coarse.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip(full[: shape[0], : shape[1]], 0, depth - 1).astype(np.float32)
