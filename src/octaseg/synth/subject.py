"""Subjects: all stages run from one seeded generator (:func:`generate_subject`), and a
subject written in the OCTA-500 layout with its labels and projection maps
(:func:`write_subject`)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from octaseg.io import write_image
from octaseg.layout import FOV_GEOMETRY
from octaseg.projection import orient
from octaseg.synth.anatomy import sample_anatomy
from octaseg.synth.en_face import render_enface
from octaseg.synth.oct_volume import render_oct
from octaseg.synth.octa_volume import render_volume, retina_surfaces
from octaseg.synth.params import _MIN_DEPTH, _MIN_WIDTH, DEFAULT_PARAMS, SynthParams
from octaseg.synth.vessel_tree import grow_vessel_tree


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


#: how the device software exports each OCTA map: the gamma after the percentile stretch,
#: per field of view (mm; OCTA(ILM_OPL) calibrated on the real maps' histograms,
#: :mod:`octaseg.map_appearance`). OCTA-500's 3mm maps are brighter than its 6mm ones at
#: the same distance from the fovea (background median gray 93 against 73 at 0.8-1.2
#: mm): with 0.8 the Voronoi mesh's 3mm maps had a background median of 41 (real 63-95),
#: their vessels a median of 179-184 (195-210) and OCTA(FULL) a mean of 96 (the real
#: reference 118); with the narrower vessels of psf_um 13, 3mm OCTA(FULL) takes 0.55
#: (means 114-133 over 8 subjects, median 121; 0.45 gave 130-148)
_MAP_GAMMA = {"OCTA(ILM_OPL)": {6.0: 0.8, 3.0: 0.5}, "OCTA(FULL)": {6.0: 0.6, 3.0: 0.55}}
_OCTA_GAMMA = 0.6
#: the exported maps are a linear stretch of a coarse original: 45-57 gray levels in
#: OCTA-500's 6mm maps, 91-158 in its 3mm ones (map_appearance's ``gray_levels``)
_MAP_LEVELS = {6.0: (45, 57), 3.0: (91, 158)}
_DARK_PERCENTILE = 0.07  # 0.06-0.09% of a real map's pixels are 0


def _quantize(image: np.ndarray, levels: int) -> np.ndarray:
    """An 8-bit map (H, W) with only ``levels`` evenly spaced gray levels, 0 and 255 kept."""
    step = 255.0 / (levels - 1)
    return np.round(np.round(image / step) * step).astype(np.uint8)


def official_maps(subject: SyntheticSubject) -> dict[str, np.ndarray]:
    """OCTA-500-style projection maps of a subject: map folder (``OCTA(FULL)``, ...) ->
    uint8 (scans, width) in the scan frame, each projected as
    :data:`octaseg.projection.MAP_REDUCTIONS` says (slabs between the subject's own
    surfaces), contrast-stretched to 8 bits (:func:`octaseg.enhance.stretch_contrast`;
    linear for OCT, whose maps are bright already) and, for OCTA, reduced to the few gray
    levels the real exports have (per subject, within the real range of its field of
    view). OCT maps only where the subject has an OCT volume."""
    from octaseg.enhance import stretch_contrast
    from octaseg.layers import SLABS
    from octaseg.projection import MAP_REDUCTIONS, project

    if subject.layers is None:
        raise ValueError(f"subject {subject.subject_id} has no layer surfaces: slab maps need them")
    scans, _, width = subject.octa.shape
    field = default_field_mm(scans, width)
    lo, hi = _MAP_LEVELS.get(field, (256, 256))
    levels = int(np.random.default_rng(subject.subject_id).integers(lo, hi + 1))
    maps = {}
    for (modality, slab), reduce in MAP_REDUCTIONS.items():
        volume = subject.octa if modality == "OCTA" else subject.oct
        if volume is None:
            continue
        bounds = SLABS[slab]
        top, bottom = (subject.layers[b] for b in bounds) if bounds else (None, None)
        name = f"{modality}({slab})"
        projection = project(volume, reduce, top, bottom)
        if modality == "OCTA":
            gamma = _MAP_GAMMA.get(name, {}).get(field, _OCTA_GAMMA)
            maps[name] = _quantize(stretch_contrast(projection, _DARK_PERCENTILE, gamma=gamma), levels)
        else:
            maps[name] = stretch_contrast(projection, gamma=1.0)
    return maps


def write_subject(
    root: str | Path,
    subject: SyntheticSubject,
    fov: str = "6mm",
    orientation: str = "flipud",
    *,
    volumes: bool = True,
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

    With ``volumes=False`` only the en-face files are written (maps, masks and labels, as
    a maps-only copy of OCTA-500 holds them): 0.5 MB a subject instead of 200 MB.
    """
    from octaseg.layers import write_gt_layers
    from octaseg.layout import layers_path, map_path

    _check_writable(subject, fov)
    oriented = orient(subject.label, orientation)  # fails early on a bad name
    root = Path(root)
    sid = subject.subject_id
    if subject.oct is not None and volumes:
        _write_bscans(root / f"OCTA_{fov}" / "OCT" / str(sid), subject.oct)
    for name, m in _masks(subject).items():
        if m is not None:
            write_image(root / "Label" / name / f"{sid}.bmp", orient(m, orientation))
    if subject.layers is not None:
        if volumes:
            write_gt_layers(layers_path(root, sid), subject.layers)
        for folder, image in official_maps(subject).items():
            write_image(map_path(root, fov, folder, sid), orient(image, orientation))
    if volumes:
        _write_bscans(root / f"OCTA_{fov}" / "OCTA" / str(sid), subject.octa)
    write_image(root / "Label" / "GT_LargeVessel" / f"{sid}.bmp", oriented)


def _masks(subject: SyntheticSubject) -> dict[str, np.ndarray | None]:
    """The subject's optional en-face masks (scans, width) by their OCTA-500 label folder."""
    return {"GT_FAZ": subject.faz, "GT_Capillary": subject.capillary}


def _check_writable(subject: SyntheticSubject, fov: str) -> None:
    """Refuse, before anything is written, an unknown field of view or a subject whose
    arrays do not fit: octa and oct uint8 (scans, depth, width), the label and masks
    uint8 (scans, width), the layer surfaces (scans, width)."""
    if fov not in FOV_GEOMETRY:
        raise ValueError(f"unknown field of view {fov!r}; expected one of {sorted(FOV_GEOMETRY)}")
    octa = subject.octa
    if octa.ndim != 3 or octa.dtype != np.uint8:
        raise ValueError(f"octa must be uint8 (scans, depth, width), got {octa.dtype} {octa.shape}")
    enface = (octa.shape[0], octa.shape[2])
    for name, m in {"label": subject.label, **_masks(subject)}.items():
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
