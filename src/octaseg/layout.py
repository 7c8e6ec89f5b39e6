"""The OCTA-500 dataset layout: where each subject's files live, subject ids and splits.

```
<root>/OCTA_6mm/OCTA/<id>/1.bmp .. 400.bmp     B-scans, depth x width, 8-bit
<root>/OCTA_3mm/OCTA/<id>/1.bmp .. 304.bmp
<root>/OCTA_6mm/Projection Maps/OCTA(FULL)/<id>.bmp   official en-face maps, 8-bit,
    OCTA(ILM_OPL)/, OCTA(OPL_BM)/, OCT(FULL)/ ...       in the label frame
<root>/Label/GT_LargeVessel/<id>.bmp           en-face large-vessel mask, 0/255
<root>/Label/GT_Layers/<id>.mat                layer surfaces, MATLAB 'Layer' (6, scan, x)
```

Where subjects start (config ``source``): ``bscans`` (the B-scan folders), ``maps`` (the
projection maps the experiments read, and the labels) or ``folders``, a plain folder pair
of any dataset (OCTA-500, ROSE, ROSSA ...), one en-face image and one label per subject,
each named by a leading numeric id:

```
<root>/images/<id>[anything].png|bmp|tif      e.g. 10001.bmp
<root>/labels/<id>[anything].png|bmp|tif      e.g. 10001.bmp, 10001_label.png
```

:class:`DataLayout` is the one place that knows where a subject's label and en-face
image are in each of them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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


def label_dir(root: str | Path, label: str = "GT_LargeVessel") -> Path:
    """The folder of OCTA-500's large-vessel (or other) labels."""
    return Path(root) / "Label" / label


def label_path(root: str | Path, subject_id: int | str, label: str = "GT_LargeVessel") -> Path:
    """Large-vessel (or other) label image of one subject."""
    return label_dir(root, label) / f"{subject_id}.bmp"


def layers_path(root: str | Path, subject_id: int | str) -> Path:
    """OCTA-500's layer surfaces of one subject (MATLAB file)."""
    return Path(root) / "Label" / "GT_Layers" / f"{subject_id}.mat"


def maps_dir(root: str | Path, fov: str) -> Path:
    """The folder of OCTA-500's official projection maps of a field of view."""
    return Path(root) / f"OCTA_{fov}" / "Projection Maps"


def map_path(root: str | Path, fov: str, folder: str, subject_id: int | str) -> Path:
    """One official projection map: ``folder`` is the map's, e.g. ``OCTA(ILM_OPL)``."""
    return maps_dir(root, fov) / folder / f"{subject_id}.bmp"


#: The official map that stands for a subject (orientation guard, baseline, figures) with
#: source maps, when an enabled experiment reads it.
SUBJECT_MAP = "OCTA(FULL)"

#: Where subjects start: B-scan folders, official projection maps, or a folder pair.
SOURCES = ("bscans", "maps", "folders")
#: source folders: the folder of en-face images and the folder of labels under the root.
FOLDER_PAIR = ("images", "labels")
#: The image files a folder pair may hold (octaseg.io.read_image reads them).
IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff")
#: A file named by a subject id: its leading digits.
LEADING_ID = re.compile(r"^(\d+)")


def format_ids(ids: Iterable[int]) -> str:
    """Ids as ranges, as a split names them: [1, 2, 3, 7] -> "1-3,7"; "none" when empty."""
    runs: list[list[int]] = []
    for i in sorted(set(ids)):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs) or "none"


def _entries(folder: Path, what: str, root: str | Path, fov: str) -> list[Path]:
    """A folder's entries, sorted, without hidden ones and those devices and file browsers
    leave (:data:`IGNORED_NAMES`); a missing folder is an error naming what was expected."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: expected {what} (data_root={root}, fov={fov}), found no such folder"
        )
    return [
        e for e in sorted(folder.iterdir()) if not (e.name.startswith(".") or e.name.lower() in IGNORED_NAMES)
    ]


def numbered_bmps(folder: Path, what: str, root: str | Path, fov: str) -> dict[int, Path]:
    """The files of an OCTA-500 folder of maps or labels, all named ``<numeric id>.bmp``:
    id -> file. Any other entry is an error naming it."""
    found = {}
    for entry in _entries(folder, what, root, fov):
        stem, suffix = os.path.splitext(entry.name)
        if not (entry.is_file() and suffix.lower() == ".bmp" and stem.isdigit()):
            raise ValueError(f"{entry}: expected {what}, files named <numeric id>.bmp, found {entry.name!r}")
        found[int(stem)] = entry
    return found


def numbered_images(folder: Path, what: str, root: str | Path, fov: str) -> dict[int, Path]:
    """The image files of a folder, each named by a leading numeric id (``10001.png``,
    ``10001_label.tif``): id -> file. A name without leading digits, a suffix other than
    :data:`IMAGE_SUFFIXES`, a subfolder, or two files of one id (``10001.png`` and
    ``10001.bmp``, or ``1.png`` and ``001.png``) is an error naming the file(s)."""
    found: dict[int, Path] = {}
    kinds = "|".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
    for entry in _entries(folder, what, root, fov):
        match = LEADING_ID.match(entry.name)
        if not (entry.is_file() and match and entry.suffix.lower() in IMAGE_SUFFIXES):
            raise ValueError(
                f"{entry}: expected {what}, image files named by a leading numeric id "
                f"(<id>.{kinds} or <id><anything>.{kinds}, e.g. 10001.png, 10001_label.png), "
                f"found {'a folder' if entry.is_dir() else 'the file'} {entry.name!r}"
            )
        subject = int(match.group(1))
        if subject in found:
            raise ValueError(
                f"{folder}: two files for subject {subject}: {found[subject].name!r} and {entry.name!r}; "
                "keep one image per subject id"
            )
        found[subject] = entry
    return found


#: Key of the labels among a :class:`DataLayout`'s found files.
LABELS = "labels"


@dataclass(frozen=True)
class DataLayout:
    """Where one dataset copy's files are, for its ``source``: the one place the workflow
    asks for a subject's label and en-face images.

    ``found`` holds the files found by :meth:`scan` (maps: each map folder read and
    ``labels``; folders: ``images`` and ``labels``), each id -> file; empty for B-scans
    and for a dataset still to be written (the synthetic one), whose paths follow the
    OCTA-500 layout."""

    root: Path
    fov: str
    source: str = "bscans"
    found: Mapping[str, Mapping[int, Path]] = field(default_factory=dict)

    @classmethod
    def scan(
        cls,
        root: str | Path,
        fov: str,
        source: str = "bscans",
        map_folders: Iterable[str] | Mapping[str, Sequence[str]] = (),
    ) -> DataLayout:
        """The layout of a copy on disk, its folders listed once: with ``source`` maps the
        labels and ``map_folders`` (the maps the experiments read; a mapping folder ->
        experiments names them in errors), with folders the pair.
        A missing folder, a file named otherwise than by a numeric id or two files of one
        id are errors naming them."""
        if source not in SOURCES:
            raise ValueError(f"unknown source {source!r}; expected one of {list(SOURCES)}")
        root = Path(root)
        found: dict[str, Mapping[int, Path]] = {}
        if source == "maps":
            found[LABELS] = numbered_bmps(label_dir(root), "OCTA-500's large-vessel labels", root, fov)
            for folder in sorted(set(map_folders)):
                users = map_folders.get(folder) if isinstance(map_folders, Mapping) else None
                read = f", which experiment(s) {', '.join(users)} read" if users else ""
                found[folder] = numbered_bmps(
                    maps_dir(root, fov) / folder,
                    f"the OCTA-500 folder of {folder} projection maps{read}",
                    root,
                    fov,
                )
        elif source == "folders":
            images, labels = FOLDER_PAIR
            found["images"] = numbered_images(root / images, "the folder of en-face images", root, fov)
            found[LABELS] = numbered_images(root / labels, "the folder of vessel labels", root, fov)
        return cls(root, fov, source, found)

    def subjects(self) -> list[int]:
        """Ids of the subjects present: the B-scan folders (bscans), or every id with any
        file in the folders scanned (maps: the labels and maps; folders: the pair), so
        that a subject missing one of them is reported, not silently left out."""
        if self.source == "bscans":
            return discover_subjects(self.root, self.fov)
        return sorted({i for files in self.found.values() for i in files})

    def label(self, subject_id: int | str) -> Path:
        """A subject's large-vessel label: ``Label/GT_LargeVessel/<id>.bmp``, or the file
        of the folder pair's ``labels`` named by its id."""
        if self.source != "folders":
            return label_path(self.root, subject_id)
        return self._pair_file(LABELS, subject_id)

    def en_face(self, folder: str, subject_id: int | str) -> Path:
        """The en-face image an experiment reads for the channel of map ``folder`` (such as
        ``OCTA(ILM_OPL)``): the official map, or in a folder pair the subject's one image
        (its only channel, whatever the channel's name)."""
        if self.source != "folders":
            return map_path(self.root, self.fov, folder, subject_id)
        return self._pair_file("images", subject_id)

    def _pair_file(self, key: str, subject_id: int | str) -> Path:
        try:
            return self.found[key][int(subject_id)]
        except KeyError:
            raise ValueError(
                f"{self.root / key}: expected a file named by subject id {subject_id}, found none"
            ) from None

    def missing(self, subject_id: int, needs: Mapping[str, Sequence[str]]) -> list[str]:
        """What a subject lacks among the files found, each naming the file (or where it
        should be) and what needs it; ``needs`` is map folder -> the experiments reading it
        (maps). Empty when nothing was scanned (B-scans, a synthetic dataset)."""
        if not self.found:
            return []
        if self.source == "folders":
            images, labels = self.found["images"], self.found[LABELS]
            kinds = "|".join(s.lstrip(".") for s in IMAGE_SUFFIXES)
            if subject_id not in images:
                return [
                    f"no image in {self.root / 'images'} named {subject_id}<...>.{kinds}, which every "
                    f"experiment reads (its label is {labels[subject_id]})"
                ]
            if subject_id not in labels:
                return [
                    f"no label in {self.root / 'labels'} named {subject_id}<...>.{kinds}, which training "
                    f"and evaluation need (its image is {images[subject_id]})"
                ]
            return []
        problems = []
        if subject_id not in self.found[LABELS]:
            problems.append(
                f"no {label_path(self.root, subject_id)}: its large-vessel label, which training and "
                "evaluation need"
            )
        for folder, users in sorted(needs.items()):
            if subject_id not in self.found.get(folder, {}):
                problems.append(
                    f"no {map_path(self.root, self.fov, folder, subject_id)}: its {folder} map, which "
                    f"experiment(s) {', '.join(users)} read"
                )
        return problems


def discover_subjects(
    root: str | Path, fov: str, source: str = "bscans", map_folders: Iterable[str] = (SUBJECT_MAP,)
) -> list[int]:
    """Ids of the subjects present: the B-scan folders under ``root/OCTA_<fov>/OCTA``;
    with ``source="maps"`` every id with a label or a map in ``map_folders``; with
    ``source="folders"`` every id with an image or a label (:meth:`DataLayout.subjects`).

    A folder (or file) whose name is not a number is an error: it is either a mistake
    or a subject that would otherwise be silently left out.
    """
    if source != "bscans":
        return DataLayout.scan(root, fov, source, map_folders).subjects()
    base = Path(root) / f"OCTA_{fov}" / "OCTA"
    ids = []
    for entry in _entries(base, "the OCTA-500 folder of B-scan folders", root, fov):
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
