"""``octaseg synth-report`` on datasets written here by octaseg.synth: the volume, geometry and
appearance groups beside their real bands, maps-only datasets, and what --check fails on."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from octaseg import realism, synth_report
from octaseg.cli import main
from octaseg.io import write_image
from octaseg.layout import label_path
from octaseg.map_appearance import REAL_APPEARANCE
from octaseg.synth import generate_subject, write_subject
from octaseg.vessel_geometry import REAL_GEOMETRY


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two subjects with B-scans, 64 scans x 96 deep x 64 wide."""
    root = tmp_path_factory.mktemp("small")
    for subject_id in (10001, 10002):
        write_subject(root, generate_subject(subject_id, scans=64, depth=96, width=64))
    return root


@pytest.fixture(scope="module")
def maps_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two full-size 6mm subjects, en-face files only, and a label of another field of view
    (no 6mm map), as a real copy's shared label folder holds."""
    root = tmp_path_factory.mktemp("maps_only")
    for subject_id in (1, 2):
        write_subject(root, generate_subject(subject_id), volumes=False)
    shutil.copy(label_path(root, 1), label_path(root, 99))
    return root


def report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["synth-report", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def line_of(text: str, statistic: str) -> str:
    """The summary line of a statistic (the last: label_fraction is in two groups)."""
    return [x for x in text.splitlines() if x.startswith(statistic + " ")][-1]


def band(low: float, high: float) -> str:
    return f"{low:g} - {high:g}"


def test_report_prints_every_group_beside_its_band(small: Path, tmp_path: Path, capsys) -> None:
    csv = tmp_path / "report.csv"
    rc, out, err = report(capsys, small, "--out", csv)
    assert rc == 0, err
    assert "per subject:" in out and "from the B-scans' mean projection" in out
    for title in ("volume and label", "label geometry (real OCTA-500 6mm)", "OCTA(ILM_OPL) map appearance"):
        assert f"summary: {title}" in out
    assert band(*realism.TARGETS["frangi_dice"]) in line_of(out, "frangi_dice")
    assert band(*REAL_GEOMETRY["6mm"]["branch_angle_deg_median"]) in line_of(out, "branch_angle_deg_median")
    assert band(*REAL_APPEARANCE["6mm"]["vessel_contrast"]) in line_of(out, "map_vessel_contrast")
    # a 64 px label of a 6 mm field has vessels ~6x too wide: out of the real band
    assert line_of(out, "width_um_median").endswith("OUT") and "2/2" in line_of(out, "width_um_median")
    table = pd.read_csv(csv)
    assert table["subject"].tolist() == [10001, 10002]
    columns = set(table.columns)
    assert set(realism.TARGETS) | set(REAL_GEOMETRY["6mm"]) <= columns
    assert {"map_" + k for k in REAL_APPEARANCE["6mm"]} <= columns


def test_maps_only_dataset(maps_only: Path, tmp_path: Path, capsys) -> None:
    csv = tmp_path / "report.csv"
    rc, out, err = report(capsys, maps_only, "--out", csv)
    assert rc == 0, err
    assert "subjects from the labels" in out and "1 labels without a 6mm map left out" in out
    assert "volume statistics skipped, frangi_dice on the OCTA(FULL) map" in out
    table = pd.read_csv(csv)
    assert table["subject"].tolist() == [1, 2]  # not 99, which has no 6mm map
    assert "octa_mean" not in table.columns
    assert table["frangi_dice"].between(0.5, 0.95).all()  # a full-size map: the baseline works
    assert table["width_um_median"].between(15, 60).all()  # 15 um pixels
    assert "map_spectral_slope" in table.columns


def test_check_names_the_subjects_out_of_band(small: Path, tmp_path: Path, capsys) -> None:
    root = shutil.copytree(small, tmp_path / "data")
    write_image(label_path(root, 10002), np.zeros((64, 64), np.uint8))  # no vessels at all
    rc, _, err = report(capsys, root, "--check", "--ids", "10002")
    assert rc == 1 and "out of the OCTA-500 bands" in err
    # the subject, then its statistics out of band (the emptied label's among them)
    assert re.search(r"subject 10002: [^;]*\blabel_fraction 0\b", err), err
    assert "median width_um_median nan" in err  # no vessels: no width, out of band


def _rows(values: list[dict[str, float]]) -> list[dict[str, float]]:
    """Rows at the middle of every band, with ``values`` overriding some per subject."""
    middle = {k: sum(b) / 2 for g in synth_report.groups("6mm") for k, b in g.bands.items()}
    return [{"subject": i, **middle, **v} for i, v in enumerate(values, start=1)]


def test_check_holds_geometry_and_appearance_medians_not_subjects() -> None:
    # one subject in three out of a geometry or appearance band, as real subjects are: passes
    one_out = _rows([{"branch_angle_deg_median": 20.0, "map_mean": 200.0}, {}, {}])
    assert synth_report.failures(synth_report.Report("6mm", one_out)) == []
    # the median out: fails, naming the statistic
    two_out = _rows([{"branch_angle_deg_median": 20.0}, {"branch_angle_deg_median": 30.0}, {}])
    assert synth_report.failures(synth_report.Report("6mm", two_out)) == [
        "median branch_angle_deg_median 30 not in [59, 75]"
    ]
    # a TARGETS statistic out in a single subject: fails, naming the subject
    problems = synth_report.failures(synth_report.Report("6mm", _rows([{}, {"frangi_dice": 0.3}, {}])))
    assert problems == ["subject 2: frangi_dice 0.3"]
