"""Tests of the synthetic OCTA-500 generator (octaseg.synth).

Small geometries keep most tests fast; one module-scoped fixture generates three
full-size 6mm subjects for the statistics that only make sense at full size.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from octaseg import synth
from octaseg.synth import FOV_GEOMETRY, SyntheticSubject, generate_subject, write_subject

SMALL = {"scans": 64, "depth": 96, "width": 64}


@pytest.fixture(scope="module")
def small() -> SyntheticSubject:
    return generate_subject(10001, seed=3, **SMALL)


@pytest.fixture(scope="module")
def full_size() -> list[SyntheticSubject]:
    """Three OCTA-500 6mm subjects (400 x 640 x 400): about 1.5 s."""
    return [generate_subject(sid, seed=0) for sid in (10001, 10002, 10003)]


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


def _band_rows_fraction(octa: np.ndarray) -> float:
    """Fraction of depth rows whose mean exceeds 10% of the brightest row's mean."""
    rows = octa.mean(axis=(0, 2))
    return float((rows > 0.1 * rows.max()).mean())


# --------------------------------------------------------------------------- interface


def test_fov_geometry() -> None:
    assert FOV_GEOMETRY == {"6mm": (400, 640, 400), "3mm": (304, 640, 304)}


def test_shapes_dtypes_and_label_values(small: SyntheticSubject) -> None:
    assert small.subject_id == 10001
    assert small.octa.shape == (64, 96, 64) and small.octa.dtype == np.uint8
    assert small.label.shape == (64, 64) and small.label.dtype == np.uint8
    assert set(np.unique(small.label)) == {0, 255}
    assert small.octa.max() > 0


def test_non_square_geometry() -> None:
    subject = generate_subject(7, scans=48, depth=80, width=72)
    assert subject.octa.shape == (48, 80, 72)
    assert subject.label.shape == (48, 72)


def test_deterministic_per_seed_and_id(small: SyntheticSubject) -> None:
    again = generate_subject(10001, seed=3, **SMALL)
    assert np.array_equal(again.octa, small.octa)
    assert np.array_equal(again.label, small.label)
    other_id = generate_subject(10002, seed=3, **SMALL)
    other_seed = generate_subject(10001, seed=4, **SMALL)
    for other in (other_id, other_seed):
        assert not np.array_equal(other.octa, small.octa)
        assert not np.array_equal(other.label, small.label)


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [
        ({"width": 31}, "31"),
        ({"scans": 8}, "8"),
        ({"depth": 40}, "40"),
        ({"width": 64.0}, "64.0"),
        ({"seed": -1}, "-1"),
        ({"subject_id": -5}, "-5"),
        ({"field_mm": 0.1}, "0.1"),
    ],
)
def test_bad_arguments_are_refused_with_the_value(kwargs: dict, bad: str) -> None:
    args = {"subject_id": 1, **SMALL, **kwargs}
    with pytest.raises(ValueError, match=bad):
        generate_subject(**args)


def test_3mm_geometry() -> None:
    subject = generate_subject(10441, seed=0, scans=304, depth=640, width=304)
    assert subject.octa.shape == (304, 640, 304)
    assert 0.03 < (subject.label > 0).mean() < 0.13
    assert 1.2 < subject.octa.mean() < 2.6
    assert 0.74 < (subject.octa == 0).mean() < 0.87


# --------------------------------------------------------------------------- anatomy


def test_murray_law_at_forks() -> None:
    p = synth.DEFAULT_PARAMS
    rng = np.random.default_rng([0, 1])
    anat = synth.sample_anatomy(rng, 400, 400, 6.0, p)
    tree = synth.grow_vessel_tree(rng, anat, p)
    par, r = tree.parent, tree.radius
    assert np.all(par < np.arange(len(par)))  # parents precede children
    kids = np.flatnonzero(par >= 0)
    nchild = np.bincount(par[kids], minlength=len(par))
    cube_sum = np.zeros(len(par))
    np.add.at(cube_sum, par[kids], r[kids] ** 3)
    forks = np.flatnonzero(nchild >= 2)
    assert len(forks) > 50
    # r_parent^3 = sum r_child^3 + the flow the parent segment itself leaks (one step)
    excess = (r[forks] ** 3 - cube_sum[forks]) / r[forks] ** 3
    assert excess.min() >= -1e-9
    assert np.median(excess) < 0.05
    # trunks are 30-48 um at the disc and the radii decrease down the tree
    assert 25 < r.max() < 55
    assert np.all(r[kids] <= r[par[kids]] + 1e-9)


def test_no_capillaries_or_labelled_vessels_in_the_faz() -> None:
    p = synth.DEFAULT_PARAMS
    rng = np.random.default_rng([0, 2])
    anat = synth.sample_anatomy(rng, 400, 400, 6.0, p)
    tree = synth.grow_vessel_tree(rng, anat, p)
    ef = synth.render_enface(rng, anat, tree, p)
    yy, xx = np.mgrid[0:400, 0:400]
    inside = anat.faz_distance((xx + 0.5) / anat.px_per_mm, (yy + 0.5) / anat.px_per_mm) < -0.02
    assert inside.sum() > 100
    for plexus in (ef.svp, ef.icp, ef.dcp):
        assert plexus[inside].max() < 1e-3
    assert ef.label[inside].mean() < 0.05


# --------------------------------------------------------------------------- volume


def test_signal_only_in_the_band(small: SyntheticSubject) -> None:
    # the ILM lies near row 243 / 640 (+- tilt), the choroid ends near 420 / 640
    k = SMALL["depth"] / 640
    assert small.octa[:, : int(150 * k), :].max() == 0
    assert small.octa[:, int(500 * k) :, :].max() == 0
    assert 0.15 < _band_rows_fraction(small.octa) < 0.4


def test_full_size_statistics(full_size: list[SyntheticSubject]) -> None:
    """OCTA-500 6mm B-scans: mean ~1.9, max ~85, p99 ~29, ~81% zeros, ~28% band rows,
    labels ~9% (6-13%), and Frangi + Otsu on the mean projection scores Dice ~0.76."""
    from skimage.filters import frangi, threshold_otsu

    for subject in full_size:
        octa, label = subject.octa, subject.label > 0
        assert 1.5 < octa.mean() < 2.3
        assert 70 <= octa.max() <= 95
        assert 22 <= np.percentile(octa[:, ::4, :], 99) <= 36
        assert 0.76 < (octa == 0).mean() < 0.86
        assert 0.22 < _band_rows_fraction(octa) < 0.34
        # nothing far above the band (ILM ~ row 243) or far below the choroid
        assert octa[:, :150, :].max() == 0 and octa[:, 500:, :].max() == 0
        assert 0.06 <= label.mean() <= 0.13

        proj = octa.mean(axis=1, dtype=np.float32)
        vesselness = frangi(proj, sigmas=(2, 4, 6), black_ridges=False)
        seg = vesselness > threshold_otsu(vesselness)
        dice = 2 * (seg & label).sum() / (seg.sum() + label.sum())
        assert 0.6 <= dice <= 0.85, f"subject {subject.subject_id}: Frangi Dice {dice:.3f}"
    # subjects differ
    a, b = (s.label > 0 for s in full_size[:2])
    assert (a & b).sum() / (a | b).sum() < 0.5


# --------------------------------------------------------------------------- writing


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


def test_write_subject_layout(tmp_path: Path) -> None:
    subject = generate_subject(10007, seed=1, scans=96, depth=96, width=96)
    write_subject(tmp_path, subject, fov="6mm", orientation="flipud")

    folder = tmp_path / "OCTA_6mm" / "OCTA" / "10007"
    assert sorted(p.name for p in (tmp_path / "OCTA_6mm" / "OCTA").iterdir()) == ["10007"]
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(f"{i}.bmp" for i in range(1, 97))
    for s in (0, 1, 47, 95):
        bscan = _read(folder / f"{s + 1}.bmp")
        assert bscan.ndim == 2 and bscan.dtype == np.uint8 and bscan.shape == (96, 96)
        assert np.array_equal(bscan, subject.octa[s])

    label_dir = tmp_path / "Label" / "GT_LargeVessel"
    assert sorted(p.name for p in label_dir.iterdir()) == ["10007.bmp"]
    label = _read(label_dir / "10007.bmp")
    assert label.ndim == 2 and label.dtype == np.uint8 and label.shape == (96, 96)
    assert set(np.unique(label)) <= {0, 255}
    assert np.array_equal(label, np.flipud(subject.label))
    # the written label follows OCTA-500 6mm: label == flipud(mean projection)
    proj = np.stack([_read(folder / f"{s + 1}.bmp") for s in range(96)]).mean(axis=1)
    assert _corr(label, np.flipud(proj)) > _corr(label, proj) + 0.15
    # nothing else in the tree
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Label", "OCTA_6mm"]


def test_write_subject_replaces_and_orients(tmp_path: Path) -> None:
    first = generate_subject(10301, seed=0, **SMALL)
    write_subject(tmp_path, first, fov="3mm", orientation="fliplr")
    folder = tmp_path / "OCTA_3mm" / "OCTA" / "10301"
    (folder / "999.bmp").write_bytes(b"stale")  # an old complete folder is replaced whole
    second = generate_subject(10301, seed=1, **SMALL)
    write_subject(tmp_path, second, fov="3mm", orientation="fliplr")
    assert len(list(folder.iterdir())) == 64
    assert np.array_equal(_read(folder / "1.bmp"), second.octa[0])
    label = _read(tmp_path / "Label" / "GT_LargeVessel" / "10301.bmp")
    assert np.array_equal(label, np.fliplr(second.label))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["10301"]


def test_write_subject_failure_leaves_nothing_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = generate_subject(10002, seed=0, **SMALL)
    real_imwrite = cv2.imwrite
    calls = {"n": 0}

    def failing_imwrite(path: str, image: np.ndarray) -> bool:
        calls["n"] += 1
        if calls["n"] > 10:
            raise OSError("disk full")
        return real_imwrite(path, image)

    monkeypatch.setattr(synth.cv2, "imwrite", failing_imwrite)
    with pytest.raises(OSError, match="disk full"):
        write_subject(tmp_path, subject)
    base = tmp_path / "OCTA_6mm" / "OCTA"
    assert list(base.iterdir()) == []  # no subject folder, no temporary left behind
    assert not (tmp_path / "Label" / "GT_LargeVessel" / "10002.bmp").exists()


def test_write_subject_rejects_bad_arguments(tmp_path: Path, small: SyntheticSubject) -> None:
    with pytest.raises(ValueError, match="9mm"):
        write_subject(tmp_path, small, fov="9mm")
    with pytest.raises(ValueError, match="upside"):
        write_subject(tmp_path, small, orientation="upside")
    bad = SyntheticSubject(1, small.octa, small.label[:10])
    with pytest.raises(ValueError, match=r"\(10, 64\)"):
        write_subject(tmp_path, bad)
    assert list(tmp_path.iterdir()) == []
