from __future__ import annotations

import re

import numpy as np
import pytest

from octaseg.enhance import equalize, normalize, stretch_contrast, to_uint8
from octaseg.projection import (
    TRANSFORMS,
    Channel,
    OrientationError,
    check_orientation,
    mean_projection,
    orient,
    orientation_scores,
    project,
    slab_projection,
)


def test_eight_distinct_transforms(rng):
    image = rng.random((5, 5))
    outs = [orient(image, name) for name in TRANSFORMS]
    assert len({o.tobytes() for o in outs}) == 8


def test_official_6mm_convention():
    # label row r is B-scan N-1-r; column c is x = c
    p = np.arange(12, dtype=np.float32).reshape(3, 4)  # P[scan, x]
    label_frame = orient(p, "flipud")
    assert label_frame[0].tolist() == p[2].tolist()
    np.testing.assert_array_equal(orient(p.T, "rot90"), label_frame)  # = np.rot90(P.T, 1)


def test_unknown_transform():
    with pytest.raises(ValueError, match="'upside'"):
        orient(np.zeros((2, 2)), "upside")


def test_mean_projection(rng):
    volume = rng.integers(0, 255, (6, 10, 4), dtype=np.uint8)
    p = mean_projection(volume)
    assert p.shape == (6, 4) and p.dtype == np.float32
    np.testing.assert_allclose(p, volume.astype(np.float64).mean(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        mean_projection(np.zeros((3, 3)))


def test_equalize_and_normalize(rng):
    image = rng.random((32, 32)).astype(np.float32) * 3
    eq = equalize(image)
    assert eq.dtype == np.uint8 and eq.min() == 0 and eq.max() == 255
    assert to_uint8(np.ones((3, 3))).max() == 0
    z = normalize(image, "zscore")
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    m = normalize(image, "minmax")
    assert m.min() == 0 and m.max() == pytest.approx(1)
    with pytest.raises(ValueError, match="'other'"):
        normalize(image, "other")


@pytest.fixture(scope="module")
def subject():
    from octaseg.synth import generate_subject

    return generate_subject(10001, scans=64, depth=96, width=64)


def test_orientation_guard_accepts_the_true_orientation(subject):
    oriented = orient(mean_projection(subject.octa), "flipud")
    label = orient(subject.label, "flipud")  # as write_subject writes it for 6mm
    scores = check_orientation(oriented, label, "flipud", 10001)
    assert max(scores, key=scores.get) == "flipud"
    assert len(scores) == 8


@pytest.mark.parametrize("turn", ["rot90", "fliplr", "transpose"])
def test_orientation_guard_catches_a_turned_label(subject, turn):
    oriented = orient(mean_projection(subject.octa), "flipud")
    label = orient(orient(subject.label, "flipud"), turn)  # a label file saved turned
    with pytest.raises(OrientationError, match=r"subject 10001: .* configured orientation 'flipud'") as err:
        check_orientation(oriented, label, "flipud", 10001)
    best = str(err.value).split("best match is '")[1].split("'")[0]
    # the transform it names is the one that maps the raw projection best onto the label
    scores = orientation_scores(mean_projection(subject.octa), label)
    assert best == max(scores, key=scores.get) != "flipud"


# --------------------------------------------------------------------------- slabs, channels


def _naive_slab(volume: np.ndarray, top: np.ndarray, bottom: np.ndarray, reduce: str) -> np.ndarray:
    out = np.zeros(top.shape, np.float32)
    start, stop = np.rint(top).astype(int), np.rint(bottom).astype(int)
    for s in range(top.shape[0]):
        for x in range(top.shape[1]):
            rows = volume[s, max(start[s, x], 0) : max(min(stop[s, x], volume.shape[1]), 0), x]
            if rows.size:
                out[s, x] = rows.mean() if reduce == "mean" else rows.max()
    return out


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_slab_projection_equals_a_per_ascan_loop(rng, reduce):
    volume = rng.integers(0, 255, (9, 40, 7), dtype=np.uint8)
    top = rng.uniform(-3, 25, (9, 7))  # some above the volume
    bottom = top + rng.uniform(-2, 30, (9, 7))  # some empty, some below the volume
    got = slab_projection(volume, top, bottom, reduce)
    assert got.dtype == np.float32 and got.shape == (9, 7)
    np.testing.assert_allclose(got, _naive_slab(volume, top, bottom, reduce), rtol=1e-6)


def test_slab_projection_full_depth_is_the_mean_projection(rng):
    volume = rng.integers(0, 255, (6, 30, 5), dtype=np.uint8)
    whole = slab_projection(volume, np.zeros((6, 5)), np.full((6, 5), 30.0))
    np.testing.assert_allclose(whole, mean_projection(volume), rtol=1e-6)
    np.testing.assert_array_equal(project(volume, "max"), volume.max(axis=1))
    np.testing.assert_allclose(project(volume, "mean"), mean_projection(volume), rtol=1e-6)


def test_slab_projection_bad_arguments(rng):
    volume = np.zeros((4, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="median"):
        slab_projection(volume, np.zeros((4, 3)), np.ones((4, 3)), "median")
    with pytest.raises(ValueError, match=r"top surface must be \(scan, x\) = \(4, 3\), got \(3, 4\)"):
        slab_projection(volume, np.zeros((3, 4)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="both"):
        project(volume, "mean", top=np.zeros((4, 3)))


@pytest.mark.parametrize(
    ("name", "key", "reduce"),
    [
        ("OCTA(FULL)", "octa_full_mean", "mean"),
        ("OCTA(ILM_OPL)", "octa_ilm_opl_mean", "mean"),
        ("OCTA(ILM_OPL):max", "octa_ilm_opl_max", "max"),
        ("OCT(OPL_BM)", "oct_opl_bm_mean", "mean"),
    ],
)
def test_channel_names(name, key, reduce):
    channel = Channel.parse(name)
    assert channel.key == key and channel.reduce == reduce
    assert Channel.from_key(key) == channel
    assert channel.map_folder == name.split(":")[0]


@pytest.mark.parametrize("bad", ["octa(FULL)", "OCTA(GCL)", "OCTA(FULL):median", "OCTA FULL", "OCTA(FULL)x"])
def test_channel_bad_names(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        Channel.parse(bad)


def test_stretch_contrast_and_percentile_normalization(rng):
    image = rng.gamma(2.0, 1.0, (60, 50)).astype(np.float32)
    stretched = stretch_contrast(image)
    assert stretched.dtype == np.uint8 and stretched.shape == image.shape
    assert (stretched == 255).mean() == pytest.approx(0.01, abs=0.005)  # above the 99th percentile
    assert np.all(np.diff(stretched.ravel()[np.argsort(image.ravel())].astype(int)) >= 0)  # monotone
    linear = stretch_contrast(image, gamma=1.0)
    assert linear.mean() < stretched.mean()  # the gamma lifts the dark background
    normalized = normalize(image, "percentile")
    assert np.percentile(normalized, 1) == pytest.approx(0.0, abs=1e-5)
    assert np.percentile(normalized, 99) == pytest.approx(1.0, abs=1e-5)
    # the same image as an 8-bit map normalizes to nearly the same values
    as_map = normalize(to_uint8(image).astype(np.float32), "percentile")
    assert np.abs(as_map - normalized).mean() < 0.01
