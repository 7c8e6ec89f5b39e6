"""The ``octaseg synth-report`` report: how close a dataset in the OCTA-500 layout is to
real OCTA-500, in three groups of per-subject statistics, each against its real bands.

- volume and label (:data:`octaseg.realism.TARGETS`): B-scan voxel statistics, label
  coverage and calibre in px, Frangi + Otsu baseline Dice. Checked per subject.
- label geometry (:data:`octaseg.vessel_geometry.REAL_GEOMETRY`): branch lengths,
  tortuosity, angles, widths in um, vessel ends around the fovea, at the field's mm per
  label pixel. Checked on the dataset's median.
- map appearance (:data:`octaseg.map_appearance.REAL_APPEARANCE`) of the official-style
  ``OCTA(ILM_OPL)`` map with the label, both in the label frame; columns ``map_<name>``.
  Checked on the dataset's median.

The geometry and appearance bands are the 5th-95th percentiles of real subjects, so one
real subject in ten falls outside each band: checking them per subject would fail real
OCTA-500 itself. A maps-only dataset (no B-scan folders) has its subjects found from its
labels (those with a map of the field of view); its volume statistics are skipped and
the baseline runs on the ``OCTA(FULL)`` map, else the ``OCTA(ILM_OPL)`` one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from octaseg import bands, map_appearance, realism, vessel_geometry
from octaseg.io import read_bscan_stack, read_image, read_label
from octaseg.layout import DataLayout, bscan_dir, discover_subjects, label_path, map_path, maps_dir

#: Width of the field of view in mm: a label's mm per px is this over its width in px.
FIELD_MM = {"6mm": 6.0, "3mm": 3.0}
#: The map whose appearance is measured (the one REAL_APPEARANCE's bands come from).
APPEARANCE_MAP = "OCTA(ILM_OPL)"
#: Without B-scans, the baseline's en-face image: the first of these maps found
#: (OCTA(FULL) is the nearest to the mean projection TARGETS' band was measured on).
BASELINE_MAPS = ("OCTA(FULL)", "OCTA(ILM_OPL)")
#: Prefix of the appearance statistics' columns (``zero_fraction`` is also a volume's).
MAP_PREFIX = "map_"

Row = dict[str, float]


@dataclass(frozen=True)
class Group:
    """Statistics with real bands: name -> (low, high); ``per_subject``: ``--check``
    holds every subject to them, else the dataset's median."""

    title: str
    bands: Mapping[str, tuple[float, float]]
    per_subject: bool


@dataclass
class Report:
    """Per-subject statistics (each row has ``subject``) and notes on what was measured how."""

    fov: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def groups(fov: str) -> list[Group]:
    """The report's statistic groups for a field of view ("6mm" or "3mm")."""
    appearance = {MAP_PREFIX + k: band for k, band in map_appearance.REAL_APPEARANCE[fov].items()}
    return [
        Group("volume and label (octaseg.realism.TARGETS)", realism.TARGETS, per_subject=True),
        Group(f"label geometry (real OCTA-500 {fov})", vessel_geometry.REAL_GEOMETRY[fov], per_subject=False),
        Group(f"{APPEARANCE_MAP} map appearance (real OCTA-500 {fov})", appearance, per_subject=False),
    ]


def find_subjects(root: str | Path, fov: str) -> tuple[list[int], list[str]]:
    """Subject ids of a dataset and notes: its B-scan folders, or without any (a maps-only
    copy) its labels that have a map of ``fov`` (a shared label folder holds both fields)."""
    if (Path(root) / f"OCTA_{fov}" / "OCTA").is_dir():
        return discover_subjects(root, fov), []
    folders = [f for f in (APPEARANCE_MAP, *BASELINE_MAPS) if (maps_dir(root, fov) / f).is_dir()]
    layout = DataLayout.scan(root, fov, "maps", sorted(set(folders)))
    labels = set(layout.found["labels"])
    if not folders:
        return sorted(labels), [f"no B-scans and no maps under {maps_dir(root, fov)}: every label counted"]
    with_map = {i for f in folders for i in layout.found[f]}
    notes = [f"no B-scans under {Path(root) / f'OCTA_{fov}' / 'OCTA'}: subjects from the labels"]
    if labels - with_map:
        notes.append(f"{len(labels - with_map)} labels without a {fov} map left out")
    return sorted(labels & with_map), notes


def subject_stats(root: str | Path, fov: str, subject: int, orientation: str) -> tuple[Row, str]:
    """One subject's statistics (``subject`` first) and the baseline's source: with B-scans
    the volume's and its mean projection's (turned into the label frame by ``orientation``),
    else the first :data:`BASELINE_MAPS` map's ("" if none)."""
    from octaseg.projection import mean_projection, orient

    folder = bscan_dir(root, fov, subject)
    row: Row = {"subject": subject}
    if folder.is_dir():
        octa = read_bscan_stack(folder)
        projection = orient(mean_projection(octa), orientation)
        label = read_label(label_path(root, subject), projection.shape)
        row.update(realism.subject_stats(octa, label, projection))
        source = "mean projection"
    else:
        label = read_label(label_path(root, subject))
        row.update(realism.label_stats(label))
        paths = [map_path(root, fov, f, subject) for f in BASELINE_MAPS]
        found = next((p for p in paths if p.is_file()), None)
        source = found.parent.name if found else ""
        if found:
            row["frangi_dice"] = realism.frangi_dice(_map(found, label), label)
    mm_per_px = FIELD_MM[fov] / label.shape[1]
    row.update(vessel_geometry.label_geometry(label, mm_per_px))
    path = map_path(root, fov, APPEARANCE_MAP, subject)
    if path.is_file():
        stats = map_appearance.map_appearance(_map(path, label), mm_per_px, label)
        row.update({MAP_PREFIX + k: v for k, v in stats.items()})
    return row, source


def _map(path: Path, label: np.ndarray) -> np.ndarray:
    """A map, which must be in the label's frame and size."""
    image = read_image(path)
    if image.shape != label.shape:
        raise ValueError(f"{path}: expected a map of its label's size {label.shape}, found {image.shape}")
    return image


def build(root: str | Path, fov: str, ids: Sequence[int] | None, orientation: str) -> Report:
    """The report of the subjects ``ids`` (default: all found) of the dataset at ``root``."""
    found, notes = find_subjects(root, fov)
    ids = list(ids) if ids else found
    if not ids:
        raise ValueError(f"{root}: no subjects found under OCTA_{fov}/OCTA nor {fov} maps with labels")
    report = Report(fov, notes=notes)
    sources: dict[str, list[int]] = {}
    for subject in ids:
        row, source = subject_stats(root, fov, subject, orientation)
        report.rows.append(row)
        sources.setdefault(source, []).append(subject)
    for source, subjects in sorted(sources.items()):
        n = f"{len(subjects)} subject(s)"
        if source == "mean projection":
            report.notes.append(f"{n}: volume statistics and frangi_dice from the B-scans' mean projection")
        else:
            how = f"frangi_dice on the {source} map" if source else f"no {' or '.join(BASELINE_MAPS)} map"
            report.notes.append(f"{n} without B-scans: volume statistics skipped, {how}")
    missing = sum(MAP_PREFIX + "mean" not in r for r in report.rows)
    if missing:
        report.notes.append(f"{missing} subject(s) without an {APPEARANCE_MAP} map: no appearance statistics")
    return report


def format_report(report: Report) -> str:
    """Subjects' TARGETS statistics, then per group: statistic, median [p5, p95] over the
    subjects, the real band, how many subjects fall outside it, ``OUT`` where the median does."""
    import pandas as pd

    table = pd.DataFrame(report.rows).set_index("subject")
    per_subject = table[[c for c in table.columns if c in realism.TARGETS]]
    lines = [*report.notes, "", "per subject:", per_subject.to_string(float_format=lambda v: f"{v:.3f}")]
    for group in groups(report.fov):
        check = "every subject" if group.per_subject else "the median"
        lines += ["", f"summary: {group.title}; --check holds {check} to the band"]
        lines.append(f"{'statistic':<30}{'median [p5, p95]':>30}   {'band':<20}{'outside':>8}")
        for name, (median, p5, p95) in bands.summarize(report.rows, group.bands).items():
            band = group.bands[name]
            outside = sum(not bands.inside(r[name], band) for r in report.rows if name in r)
            figures = f"{median:.4g} [{p5:.4g}, {p95:.4g}]"
            flag = "" if bands.inside(median, band) else "   OUT"
            lines.append(
                f"{name:<30}{figures:>30}   {f'{band[0]:g} - {band[1]:g}':<20}"
                f"{f'{outside}/{len(table)}':>8}{flag}"
            )
    return "\n".join(lines)


def failures(report: Report) -> list[str]:
    """What ``--check`` fails on: each subject with a TARGETS statistic out of band, and
    each geometry or appearance statistic whose median is out of its band; empty if none."""
    problems = []
    for group in groups(report.fov):
        if group.per_subject:
            for row in report.rows:
                bad = bands.out_of_band(row, group.bands)
                if bad:
                    problems.append(
                        f"subject {row['subject']}: " + ", ".join(f"{k} {v:.4g}" for k, v in bad.items())
                    )
        else:
            for name, (median, _, _) in bands.summarize(report.rows, group.bands).items():
                low, high = group.bands[name]
                if not bands.inside(median, (low, high)):
                    problems.append(f"median {name} {median:.4g} not in [{low:g}, {high:g}]")
    return problems


def csv_fields(rows: Sequence[Row]) -> list[str]:
    """Every column any row has, in first-seen order (a maps-only subject lacks some)."""
    return list(dict.fromkeys(k for r in rows for k in r))
