from __future__ import annotations

import numpy as np
import pytest

from octaseg.enhance import equalize, normalize, to_uint8
from octaseg.projection import (
    TRANSFORMS,
    OrientationError,
    check_orientation,
    mean_projection,
    orient,
    orientation_scores,
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
