"""Label geometry on labels drawn here with known widths, lengths, tortuosity, branching
angles and end-to-fovea distances (no real data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.draw import circle_perimeter, line
from skimage.morphology import dilation, disk

from octaseg import bands
from octaseg import vessel_geometry as vg

UM = 0.001  # mm per px that makes micrometres read as px


def polyline(shape: tuple[int, int], segments: list[tuple[float, float, float, float]], width: int = 1):
    """A label (H, W) bool of straight segments (r0, c0, r1, c1), ``width`` px wide (odd)."""
    label = np.zeros(shape, bool)
    for r0, c0, r1, c1 in segments:
        rr, cc = line(round(r0), round(c0), round(r1), round(c1))
        keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
        label[rr[keep], cc[keep]] = True
    return dilation(label, disk(width // 2)) if width > 1 else label


def fork(angle_deg: float, width: int) -> np.ndarray:
    """A Y: a 100 px parent up to (150, 150), then two 100 px daughters ``angle_deg`` apart."""
    half = math.radians(angle_deg / 2)
    dr, dc = 100 * math.cos(half), 100 * math.sin(half)
    segments = [(250, 150, 150, 150), (150, 150, 150 - dr, 150 - dc), (150, 150, 150 - dr, 150 + dc)]
    return polyline((300, 300), segments, width)


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 9])
def test_straight_vessel_width_length_tortuosity(width):
    label = np.zeros((100, 300), bool)
    label[50 - width // 2 : 50 - width // 2 + width, 50:250] = True  # 200 px long
    stats = vg.label_geometry(label, 0.01)
    assert stats["label_fraction"] == pytest.approx(200 * width / 30000)
    assert stats["width_um_median"] == pytest.approx(10 * width)
    assert stats["width_um_p90"] == pytest.approx(10 * width)
    # the skeleton stops up to half a width short of each end
    assert 200 - width <= stats["branch_length_mm_median"] * 100 <= 200
    assert stats["branch_length_mm_mean"] == stats["branch_length_mm_median"]
    assert stats["tortuosity_median"] == pytest.approx(1.0, abs=0.003)
    assert stats["junctions_per_mm2"] == 0
    assert stats["ends_per_mm2"] == pytest.approx(2 / 3.0)  # 2 ends over 1 x 3 mm
    assert math.isnan(stats["branch_angle_deg_median"])


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7])
def test_width_classes_of_a_straight_vessel(width):
    label = np.zeros((100, 300), bool)
    label[50 - width // 2 : 50 - width // 2 + width, 50:250] = True
    stats = vg.label_geometry(label, 0.01)
    # all but the skeleton's end pixels, which lie nearer the vessel's end than its rim
    assert stats["width_1px_fraction"] == pytest.approx(1.0 if width == 1 else 0.0, abs=0.02)
    assert stats["width_3px_fraction"] == pytest.approx(1.0 if width == 3 else 0.0, abs=0.02)
    assert stats["width_5px_fraction"] == pytest.approx(1.0 if width >= 5 else 0.0, abs=0.02)


def test_width_classes_share_the_centre_lines_by_length():
    """A 1 px vessel 200 px long beside a 3 px one 100 px long: two thirds of the centre
    lines are 1 px wide, about a third 3 px (the thick one's skeleton is a little shorter)."""
    label = np.zeros((100, 300), bool)
    label[20, 50:250] = True
    label[69:72, 100:200] = True
    stats = vg.label_geometry(label, 0.01)
    assert stats["width_1px_fraction"] == pytest.approx(200 / 299, abs=0.01)
    assert stats["width_3px_fraction"] == pytest.approx(99 / 299, abs=0.01)
    assert stats["width_5px_fraction"] == 0.0


def test_one_pixel_line_is_exact_and_scales_with_pixel_size():
    label = np.zeros((100, 300), bool)
    label[50, 50:250] = True
    fine, coarse = vg.label_geometry(label, 0.01), vg.label_geometry(label, 0.02)
    assert fine["branch_length_mm_median"] == pytest.approx(1.99)  # 199 steps of 10 um
    assert fine["width_um_median"] == pytest.approx(10.0)
    assert coarse["branch_length_mm_median"] == pytest.approx(2 * 1.99)
    assert coarse["ends_per_mm2"] == pytest.approx(fine["ends_per_mm2"] / 4)


def test_slanted_line_is_not_tortuous():
    slope = math.tan(math.radians(22.5))  # the worst slant for 8-connected step lengths
    label = polyline((300, 300), [(100, 50, 100 + 200 * slope, 250)])
    stats = vg.label_geometry(label, UM)
    assert stats["tortuosity_median"] == pytest.approx(1.0, abs=0.01)
    assert stats["branch_length_mm_median"] * 1000 == pytest.approx(
        200 / math.cos(math.radians(22.5)), rel=0.01
    )


def test_semicircle_tortuosity_and_length():
    radius, t = 60, np.linspace(0, math.pi, 4000)
    label = np.zeros((200, 200), bool)
    rows, cols = np.round(100 + radius * np.sin(t)), np.round(100 + radius * np.cos(t))
    label[rows.astype(int), cols.astype(int)] = True
    stats = vg.label_geometry(label, UM)
    assert stats["branch_length_mm_median"] * 1000 == pytest.approx(math.pi * radius, rel=0.01)
    assert stats["tortuosity_median"] == pytest.approx(math.pi / 2, abs=0.015)


def test_sine_wave_tortuosity():
    x = np.arange(20, 281, dtype=float)
    y = 100 + 10 * np.sin(2 * math.pi * (x - 20) / 65)  # 4 periods, amplitude 10 px
    label = np.zeros((200, 300), bool)
    for i in range(len(x) - 1):
        rr, cc = line(round(y[i]), round(x[i]), round(y[i + 1]), round(x[i + 1]))
        label[rr, cc] = True
    xs = np.linspace(20, 280, 20001)
    ys = 100 + 10 * np.sin(2 * math.pi * (xs - 20) / 65)
    expected = np.hypot(np.diff(xs), np.diff(ys)).sum() / 260
    assert vg.label_geometry(label, UM)["tortuosity_median"] == pytest.approx(expected, abs=0.02)


@pytest.mark.parametrize("angle", [40, 60, 90])
@pytest.mark.parametrize("width", [1, 5])
def test_fork_angle_between_daughters(angle, width):
    stats = vg.label_geometry(fork(angle, width), UM)
    assert stats["branch_angle_deg_median"] == pytest.approx(angle, abs=3)
    area = 0.3 * 0.3
    assert stats["junctions_per_mm2"] * area == pytest.approx(1)
    assert stats["ends_per_mm2"] * area == pytest.approx(3)
    assert stats["branch_length_mm_median"] * 1000 == pytest.approx(100, abs=4)


def test_short_spurs_are_pruned_long_branches_kept():
    label = np.zeros((100, 300), bool)
    label[50, 50:250] = True
    label[48:50, 100] = True  # a 2 px spur: skeleton noise
    label[40:50, 200] = True  # a 10 px branch
    skel, branches, centroids = vg.prune_spurs(label)
    assert not skel[48, 100] and skel[40, 200]
    assert len(branches) == 3 and len(centroids) == 1
    stats = vg.label_geometry(label, UM)
    assert stats["ends_per_mm2"] * 0.03 == pytest.approx(3)
    assert stats["junctions_per_mm2"] * 0.03 == pytest.approx(1)


def test_closed_loop_has_no_ends_and_no_tortuosity():
    label = np.zeros((200, 200), bool)
    label[circle_perimeter(100, 100, 50)] = True
    branches, centroids = vg.skeleton_branches(label)
    assert len(branches) == 1 and len(centroids) == 0
    assert branches[0].length == pytest.approx(2 * math.pi * 50, rel=0.02)
    stats = vg.label_geometry(label, UM)
    assert stats["ends_per_mm2"] == 0 and math.isnan(stats["tortuosity_median"])


def spokes(inner: float, outer: float) -> list[tuple[float, float, float, float]]:
    """12 radial segments around (200, 200) from radius ``inner`` to ``outer``."""
    angles = np.radians(np.arange(12) * 30 + 7)
    return [
        (
            200 + inner * math.sin(a),
            200 + inner * math.cos(a),
            200 + outer * math.sin(a),
            200 + outer * math.cos(a),
        )
        for a in angles
    ]


def test_vessel_ends_at_the_fovea_edge():
    label = polyline((400, 400), spokes(40, 300))  # outer ends cut by the border: not ends
    centre, radius = vg.fovea(label)
    assert radius == pytest.approx(40, abs=1)
    assert np.abs(centre - 200).max() <= 1
    stats = vg.label_geometry(label, 0.015)
    assert stats["faz_radius_mm"] == pytest.approx(40 * 0.015, abs=0.015)
    assert stats["end_faz_distance_mm_median"] == pytest.approx(0, abs=0.015)
    assert stats["ends_per_mm2"] * 36 == pytest.approx(12)


def test_vessel_ends_far_from_a_ringed_fovea():
    label = polyline((400, 400), spokes(40, 150))  # spokes off a ring, ending 110 px out
    label[circle_perimeter(200, 200, 40)] = True
    stats = vg.label_geometry(label, UM)
    assert stats["faz_radius_mm"] * 1000 == pytest.approx(40, abs=1)
    assert stats["end_faz_distance_mm_median"] * 1000 == pytest.approx(110, abs=1.5)
    assert stats["ends_per_mm2"] * 0.16 == pytest.approx(12)
    assert stats["junctions_per_mm2"] * 0.16 == pytest.approx(12)


def test_empty_label():
    stats = vg.label_geometry(np.zeros((50, 60), bool), 0.01)
    assert stats["label_fraction"] == 0 and stats["junctions_per_mm2"] == 0 and stats["ends_per_mm2"] == 0
    nan = {k for k, v in stats.items() if math.isnan(v)}
    assert nan == set(stats) - {"label_fraction", "junctions_per_mm2", "ends_per_mm2"}


def test_summarize_and_bands():
    rows = [{"a": float(v), "b": float("nan") if v else 1.0} for v in range(101)]
    summary = bands.summarize(rows)
    assert summary["a"] == (50.0, 5.0, 95.0)
    assert summary["b"] == (1.0, 1.0, 1.0)  # NaNs left out
    typical = {name: (low + high) / 2 for name, (low, high) in vg.REAL_GEOMETRY["6mm"].items()}
    assert vg.out_of_band(typical, "6mm") == {}
    off = {**typical, "branch_angle_deg_median": 30.0, "tortuosity_median": float("nan")}
    assert set(vg.out_of_band(off, "6mm")) == {"branch_angle_deg_median", "tortuosity_median"}
    assert set(vg.REAL_GEOMETRY["3mm"]) == set(typical) == set(vg.label_geometry(fork(60, 1), UM))
