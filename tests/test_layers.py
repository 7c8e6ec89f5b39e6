"""Layer surfaces (octaseg.layers): OCTA-500's GT_Layers files and the estimate from the
OCT volume, checked against the synthetic generator's known surfaces."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from octaseg.io import InputError
from octaseg.layers import (
    ESTIMATED,
    SURFACES,
    estimate_surfaces,
    read_gt_layers,
    read_surfaces,
    write_gt_layers,
    write_surfaces,
)
from octaseg.synth import FOV_GEOMETRY, generate_subject

MAX_MAE = 3.0  # depth rows: the bound on the estimate's mean absolute error


def _errors(estimated: dict, truth: dict) -> dict[str, float]:
    return {name: float(np.abs(estimated[name] - truth[name]).mean()) for name in ESTIMATED}


@pytest.mark.parametrize(
    ("subject_id", "scans", "depth", "width"),
    [(10001, 64, 160, 64), (10002, 96, 320, 80), (10003, 64, 96, 64)],
)
def test_estimate_matches_the_synthetic_surfaces_small(
    subject_id: int, scans: int, depth: int, width: int
) -> None:
    subject = generate_subject(subject_id, seed=0, scans=scans, depth=depth, width=width)
    estimated = estimate_surfaces(subject.oct)
    assert set(estimated) == set(ESTIMATED)
    for name in ESTIMATED:
        assert estimated[name].shape == (scans, width) and estimated[name].dtype == np.float32
    errors = _errors(estimated, subject.layers)
    assert max(errors.values()) <= MAX_MAE, errors
    assert (estimated["ILM"] <= estimated["OPL"]).all() and (estimated["OPL"] <= estimated["BM"]).all()


@pytest.mark.parametrize("fov", ["6mm", "3mm"])
def test_estimate_matches_the_synthetic_surfaces_full_size(fov: str) -> None:
    """Two full-size subjects per field of view (a few seconds each)."""
    scans, depth, width = FOV_GEOMETRY[fov]
    for subject_id in (10011, 10012):
        subject = generate_subject(subject_id, seed=5, scans=scans, depth=depth, width=width)
        errors = _errors(estimate_surfaces(subject.oct), subject.layers)
        assert max(errors.values()) <= MAX_MAE, (fov, subject_id, errors)


def test_estimate_is_not_fooled_by_a_flat_volume() -> None:
    """A volume without layers gives surfaces in order and inside the volume, not an error."""
    flat = np.full((40, 128, 40), 60, np.uint8)
    estimated = estimate_surfaces(flat)
    for name in ESTIMATED:
        assert np.isfinite(estimated[name]).all()
        assert (estimated[name] >= 0).all() and (estimated[name] <= 127).all()
    assert (estimated["ILM"] <= estimated["OPL"]).all() and (estimated["OPL"] <= estimated["BM"]).all()


def test_estimate_needs_a_volume() -> None:
    with pytest.raises(ValueError, match=r"\(5, 5\)"):
        estimate_surfaces(np.zeros((5, 5), np.uint8))


def test_generator_surfaces_are_in_octa500_order() -> None:
    subject = generate_subject(10004, seed=0, scans=64, depth=160, width=64)
    assert tuple(subject.layers) == SURFACES
    stacked = np.stack([subject.layers[s] for s in SURFACES])
    assert (np.diff(stacked, axis=0) > 0).all()
    # OCTA-500 6mm, rescaled to 160 rows: ILM to BM 93-125 rows of 640
    thickness = (subject.layers["BM"] - subject.layers["ILM"]).mean() * 640 / 160
    assert 80 < thickness < 140


def test_gt_layers_round_trip(tmp_path: Path) -> None:
    subject = generate_subject(10005, seed=0, scans=48, depth=96, width=40)
    path = tmp_path / "Label" / "GT_Layers" / "10005.mat"
    write_gt_layers(path, subject.layers)
    read = read_gt_layers(path, shape=(48, 40), depth=96)
    assert tuple(read) == SURFACES
    for name in SURFACES:
        assert read[name].dtype == np.float32 and read[name].shape == (48, 40)
        assert np.abs(read[name] - subject.layers[name]).max() <= 0.5  # rounded to rows
    assert [p.name for p in path.parent.iterdir()] == ["10005.mat"]  # no temporary left


def test_gt_layers_matlab_v73(tmp_path: Path) -> None:
    """MATLAB v7.3 files are HDF5 with arrays stored transposed."""
    layer = np.arange(6 * 4 * 5, dtype=np.uint16).reshape(6, 4, 5) % 90
    layer = np.sort(layer, axis=0)
    path = tmp_path / "10001.mat"
    with h5py.File(path, "w") as f:
        f["Layer"] = layer.transpose()
    read = read_gt_layers(path, shape=(4, 5))
    assert np.array_equal(read["ILM"], layer[0]) and np.array_equal(read["BM"], layer[5])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"Layer": np.zeros((3, 8, 8), np.uint16)}, r"'Layer' of shape \(6, scan, x\).*shape \(3, 8, 8\)"),
        ({"Surfaces": np.zeros((6, 8, 8), np.uint16)}, r"a variable 'Layer', found \['Surfaces'\]"),
        ({"Layer": np.zeros((6, 8, 9), np.uint16)}, r"surfaces of 8x8 A-scans, found \(8, 9\)"),
        ({"Layer": np.full((6, 8, 8), 700, np.uint16)}, r"depth rows within 0\.\.640, found 700\.\.700"),
        ({"Layer": np.full((6, 8, 8), np.nan)}, r"finite"),
    ],
)
def test_gt_layers_bad_files_name_the_file(tmp_path: Path, content: dict, message: str) -> None:
    path = tmp_path / "10001.mat"
    savemat(path, content)
    with pytest.raises(InputError, match=message) as error:
        read_gt_layers(path, shape=(8, 8), depth=640)
    assert str(path) in str(error.value)


def test_gt_layers_missing_or_not_a_mat_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"expected a GT_Layers \.mat file, found none"):
        read_gt_layers(tmp_path / "10001.mat")
    junk = tmp_path / "10002.mat"
    junk.write_bytes(b"not a MATLAB file at all" * 10)
    with pytest.raises(InputError, match=str(junk)):
        read_gt_layers(junk)


def test_surfaces_file_round_trip(tmp_path: Path) -> None:
    surfaces = {"ILM": np.full((4, 5), 10.5, np.float32), "OPL": np.full((4, 5), 30.0, np.float32)}
    path = tmp_path / "s.h5"
    write_surfaces(path, surfaces, "test")
    read = read_surfaces(path)
    assert list(read) == ["ILM", "OPL"] and np.array_equal(read["ILM"], surfaces["ILM"])
    assert list(read_surfaces(path, ("OPL",))) == ["OPL"]
    with pytest.raises(InputError, match=r"expected surface 'BM', found \['ILM', 'OPL'\]"):
        read_surfaces(path, ("ILM", "BM"))
