"""The OCTA-500 dataset layout: where each subject's files live, subject ids and splits.

```
<root>/OCTA_6mm/OCTA/<id>/1.bmp .. 400.bmp     B-scans, depth x width, 8-bit
<root>/OCTA_3mm/OCTA/<id>/1.bmp .. 304.bmp
<root>/OCTA_6mm/Projection Maps/OCTA(FULL)/<id>.bmp   official en-face maps, 8-bit,
    OCTA(ILM_OPL)/, OCTA(OPL_BM)/, OCT(FULL)/ ...       in the label frame
<root>/Label/GT_LargeVessel/<id>.bmp           en-face large-vessel mask, 0/255
<root>/Label/GT_Layers/<id>.mat                layer surfaces, MATLAB 'Layer' (6, scan, x)
```
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

#: OCTA-500 geometry per field of view: (scans, depth, width) of a subject's volume.
FOV_GEOMETRY: dict[str, tuple[int, int, int]] = {"6mm": (400, 640, 400), "3mm": (304, 640, 304)}

#: File names that devices and file browsers leave in folders; never B-scans.
IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
#: A B-scan file name: its number, 1-based.
BSCAN_NAME = re.compile(r"^(\d+)\.bmp$", re.IGNORECASE)

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_ids(spec: str | int | Iterable[str | int]) -> list[int]:
    """Subject ids from "10001-10004,10007", an int, or a list of such items; sorted, unique."""
    if isinstance(spec, int):
        return [spec]
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    ids: set[int] = set()
    for item in items:
        if isinstance(item, int):
            ids.add(item)
            continue
        match = _RANGE.match(str(item))
        if not match:
            raise ValueError(f"bad subject id or range {item!r}; expected e.g. 10001 or 10001-10180")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first:
            raise ValueError(f"bad subject id range {item!r}: the end is before the start")
        ids.update(range(first, last + 1))
    return sorted(ids)


def bscan_dir(root: str | Path, fov: str, subject_id: int | str, modality: str = "OCTA") -> Path:
    """Folder of one subject's B-scans of a modality (OCTA or OCT)."""
    return Path(root) / f"OCTA_{fov}" / modality / str(subject_id)


def label_path(root: str | Path, subject_id: int | str, label: str = "GT_LargeVessel") -> Path:
    """Large-vessel (or other) label image of one subject."""
    return Path(root) / "Label" / label / f"{subject_id}.bmp"


def layers_path(root: str | Path, subject_id: int | str) -> Path:
    """OCTA-500's layer surfaces of one subject (MATLAB file)."""
    return Path(root) / "Label" / "GT_Layers" / f"{subject_id}.mat"


def maps_dir(root: str | Path, fov: str) -> Path:
    """The folder of OCTA-500's official projection maps of a field of view."""
    return Path(root) / f"OCTA_{fov}" / "Projection Maps"


def map_path(root: str | Path, fov: str, folder: str, subject_id: int | str) -> Path:
    """One official projection map: ``folder`` is the map's, e.g. ``OCTA(ILM_OPL)``."""
    return maps_dir(root, fov) / folder / f"{subject_id}.bmp"


#: The official map whose files name the subjects when the workflow starts from maps.
SUBJECT_MAP = "OCTA(FULL)"


def discover_subjects(root: str | Path, fov: str, source: str = "bscans") -> list[int]:
    """Ids of the subjects present: the B-scan folders under ``root/OCTA_<fov>/OCTA``,
    or with ``source="maps"`` the files of ``Projection Maps/OCTA(FULL)``.

    A folder (or map file) whose name is not a number is an error: it is either a mistake
    or a subject that would otherwise be silently left out.
    """
    if source == "maps":
        base = maps_dir(root, fov) / SUBJECT_MAP
        what = "the OCTA-500 folder of OCTA(FULL) projection maps"
    else:
        base = Path(root) / f"OCTA_{fov}" / "OCTA"
        what = "the OCTA-500 folder of B-scan folders"
    if not base.is_dir():
        raise FileNotFoundError(
            f"{base}: expected {what} (data_root={root}, fov={fov}), found no such folder"
        )
    ids = []
    for entry in sorted(base.iterdir()):
        if entry.name.startswith(".") or entry.name.lower() in IGNORED_NAMES:
            continue
        if source == "maps":
            stem, suffix = os.path.splitext(entry.name)
            if not (entry.is_file() and suffix.lower() == ".bmp" and stem.isdigit()):
                raise ValueError(
                    f"{entry}: expected projection maps named <numeric id>.bmp, found {entry.name!r}"
                )
            ids.append(int(stem))
            continue
        if not entry.is_dir():
            continue
        if not entry.name.isdigit():
            raise ValueError(f"{entry}: expected subject folders named by a numeric id, found {entry.name!r}")
        ids.append(int(entry.name))
    return sorted(ids)


def assign_splits(
    split: Mapping[str, str | list], available: Iterable[int] | None = None
) -> dict[str, list[int]]:
    """Split name -> sorted subject ids, from id ranges; optionally keep only available ids.

    An id named by two splits is an error.
    """
    out: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    keep = None if available is None else set(available)
    for name, spec in split.items():
        ids = parse_ids(spec)
        for i in ids:
            if i in owner:
                raise ValueError(f"subject {i} is in both split {owner[i]!r} and split {name!r}")
            owner[i] = name
        out[name] = [i for i in ids if keep is None or i in keep]
    return out


def bscan_fingerprint(folder: str | Path) -> str:
    """A short hash of a B-scan folder's B-scan files: names, sizes and modification
    times. It changes when a B-scan is overwritten in place, which the folder's own
    modification time does not show; files that ingest ignores do not count. One stat
    per file: about 1 ms per 400-scan folder."""
    try:
        entries = sorted(
            (e.name, e.stat().st_size, e.stat().st_mtime_ns)
            for e in os.scandir(folder)
            if BSCAN_NAME.match(e.name)
        )
    except FileNotFoundError:
        return "missing"
    return hashlib.sha1(repr(entries).encode()).hexdigest()[:16]
