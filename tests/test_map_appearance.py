"""map_appearance on images made here: a flat map, white and blurred noise, row lines, a label."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from octaseg import bands
from octaseg import map_appearance as ma

MM_6 = 6.0 / 400  # a 6mm map's pixel


def noise_map(seed: int = 0, shape: tuple[int, int] = (400, 400), std: float = 30.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.round(rng.normal(128, std, shape)), 0, 255).astype(np.uint8)


def plane_share(shape: tuple[int, int], mm: float, low: float, high: float) -> float:
    """Share of the frequency plane below MAX_FREQ that lies in [low, high) cyc/mm."""
    fy, fx = np.fft.fftfreq(shape[0], mm), np.fft.fftfreq(shape[1], mm)
    f = np.hypot(fy[:, None], fx[None, :])
    return np.count_nonzero((f >= low) & (f < high)) / np.count_nonzero(f < ma.MAX_FREQ)


def test_constant_map_has_no_spectral_power():
    s = ma.map_appearance(np.full((400, 400), 100, np.uint8), MM_6)
    assert (s["mean"], s["std"], s["p1"], s["p50"], s["p99"]) == (100, 0, 100, 100, 100)
    assert (s["zero_fraction"], s["saturated_fraction"], s["gray_levels"]) == (0, 0, 1)
    assert s["power_low"] == s["power_mid"] == s["power_high"] == 0
    assert np.isnan(s["spectral_slope"])
    assert s["row_line_score"] == s["column_line_score"] == 0


def test_histogram_figures():
    image = np.zeros((100, 100), np.uint8)
    image[:, 50:] = 255
    image[:10, :] = 7  # 10% at 7, 45% at 0, 45% at 255
    s = ma.map_appearance(image, MM_6)
    assert s["zero_fraction"] == pytest.approx(0.45)
    assert s["saturated_fraction"] == pytest.approx(0.45)
    assert (s["p1"], s["p99"], s["gray_levels"]) == (0, 255, 3)
    assert s["mean"] == pytest.approx(0.45 * 255 + 0.1 * 7)


@pytest.mark.parametrize("mm", [MM_6, 3.0 / 304])
def test_white_noise_has_a_flat_spectrum(mm):
    s = ma.map_appearance(noise_map(1), mm)
    for band, (low, high) in {
        "power_low": (0, ma.LOW_EDGE),
        "power_mid": (ma.LOW_EDGE, ma.HIGH_EDGE),
        "power_high": (ma.HIGH_EDGE, ma.MAX_FREQ),
    }.items():
        assert s[band] == pytest.approx(plane_share((400, 400), mm, low, high), abs=0.01), band
    assert s["power_low"] + s["power_mid"] + s["power_high"] == pytest.approx(1.0)
    assert abs(s["spectral_slope"]) < 0.1


def blurred_noise(sigma_px: float, seed: int = 2) -> np.ndarray:
    field = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=(400, 400)), sigma_px)
    return np.clip(np.round(128 + 40 * field / field.std()), 0, 255).astype(np.uint8)


def test_blurred_noise_has_its_power_in_the_low_band():
    s = ma.map_appearance(blurred_noise(20), MM_6)  # power e^-2 down at 0.5 cyc/mm
    assert s["power_low"] > 0.99
    assert s["power_high"] < 1e-4
    assert ma.map_appearance(noise_map(2), MM_6)["power_low"] < 0.01


def test_blur_steepens_the_roll_off():
    # sigma 1 px: power down e^-0.9 at 10 cyc/mm, e^-8 at 30: a log-log slope near -6
    s = ma.map_appearance(blurred_noise(1), MM_6)
    assert -7.5 < s["spectral_slope"] < -4.5
    # power density exp(-a f^2), a = (2 pi sigma mm_per_px)^2: its share above HIGH_EDGE
    a = (2 * np.pi * MM_6) ** 2
    below = 1 - np.exp(-a * np.array([ma.HIGH_EDGE, ma.MAX_FREQ]) ** 2)
    assert s["power_high"] == pytest.approx(1 - below[0] / below[1], abs=0.02)  # 0.41, white 0.89


def test_row_lines_raise_the_row_score_only():
    clean = noise_map(3).astype(np.int16)
    lined = clean.copy()
    lined[::10] += 30  # every 10th row one std brighter
    lined = np.clip(lined, 0, 255).astype(np.uint8)
    a = ma.map_appearance(clean.astype(np.uint8), MM_6)
    b = ma.map_appearance(lined, MM_6)
    assert a["row_line_score"] < 0.3
    assert b["row_line_score"] > 3 * a["row_line_score"]
    assert b["row_line_score"] > 0.8
    assert b["column_line_score"] == pytest.approx(a["column_line_score"], rel=0.2)
    turned = ma.map_appearance(lined.T, MM_6)
    assert turned["column_line_score"] == pytest.approx(b["row_line_score"])


def test_label_contrast():
    image = np.full((50, 60), 40, np.uint8)
    label = np.zeros((50, 60), np.uint8)
    label[10:20, :] = 255
    image[10:20, :] = 200
    image[10, :5] = 90  # a few darker vessel pixels leave the median alone
    s = ma.map_appearance(image, MM_6, label)
    assert (s["vessel_median"], s["background_median"]) == (200, 40)
    assert s["vessel_ratio"] == pytest.approx(5.0)
    assert s["vessel_contrast"] == pytest.approx(160 / 240)
    image[label == 0] = 0
    dark = ma.label_contrast(image, label)
    assert (dark["vessel_ratio"], dark["vessel_contrast"]) == (200.0, 1.0)  # background floored at 1
    with pytest.raises(ValueError, match="does not match"):
        ma.label_contrast(image, label[:, :-1])


def test_faded_fraction_counts_centre_lines_darker_than_the_background():
    """A vessel bright along 3/4 of its length and at background level along the rest:
    about a quarter of its centre line is faded; an evenly bright one has none; no
    vessel, no figure."""
    rng = np.random.default_rng(0)
    image = rng.uniform(40, 80, size=(64, 64))
    label = np.zeros((64, 64), bool)
    label[30:34, 4:60] = True
    image[label] = 200
    assert ma.faded_fraction(image, label) == 0.0
    image[30:34, 46:60] = 50  # the last quarter dims into the background
    assert 0.15 < ma.faded_fraction(image, label) < 0.35
    assert np.isnan(ma.faded_fraction(image, np.zeros((64, 64), bool)))
    assert "vessel_faded" in ma.map_appearance(image.astype(np.uint8), 0.015, label)


def test_width_brightness_per_drawn_width():
    """Two vessels, drawn 2 and 6 px wide, the thin one dimmer: each class gets its own
    vessel's z-score; a class the label lacks is NaN."""
    image = np.full((64, 64), 50.0)
    label = np.zeros((64, 64), bool)
    label[10:12, 4:60] = True  # 2 px: thin
    label[40:46, 4:60] = True  # 6 px: thick
    image[10:12, 4:60] = 120
    image[40:46, 4:60] = 200
    z = (image - image.mean()) / image.std()
    s = ma.width_brightness(image, label)
    assert s["vessel_z_thin"] == pytest.approx(z[10, 30])
    assert s["vessel_z_thick"] == pytest.approx(z[42, 30])
    assert s["vessel_z_thin"] < s["vessel_z_thick"]
    thin_only = ma.width_brightness(image, label & (np.arange(64) < 32)[:, None])
    assert np.isnan(thin_only["vessel_z_mid"]) and np.isnan(thin_only["vessel_z_thick"])
    assert set(s) <= set(ma.map_appearance(image.astype(np.uint8), MM_6, label))


def test_edge_profile_of_a_plateau_and_of_a_peaked_vessel():
    """A 7 px vessel drawn as a plateau with a hard rim: edge 1, halo 0. The same vessel
    brightest on its axis and blurred past its label: the rim dimmer than the axis, the
    ring outside above the background. A 2 px vessel alone has no edge apart from its
    axis: NaN."""
    label = np.zeros((64, 64), bool)
    label[29:36, 4:60] = True
    plateau = np.where(label, 200.0, 50.0)
    flat = ma.edge_profile(plateau, label)
    assert flat["vessel_edge"] == pytest.approx(1.0)
    assert flat["vessel_halo"] == pytest.approx(0.0)
    rows = np.arange(64)[:, None]
    axis = np.exp(-0.5 * ((rows - 32) / 3.0) ** 2)  # 1 on the axis, 0.61 at the rim
    peaked = 50.0 + 150.0 * np.broadcast_to(axis, (64, 64))
    s = ma.edge_profile(peaked, label)
    assert s["vessel_edge"] == pytest.approx(axis[29, 0], abs=0.01)
    assert s["vessel_halo"] == pytest.approx(axis[28, 0], abs=0.01)
    assert 0 < s["vessel_halo"] < s["vessel_edge"] < 1
    thin = np.zeros((64, 64), bool)
    thin[30:32, 4:60] = True
    assert all(np.isnan(v) for v in ma.edge_profile(np.where(thin, 200.0, 50.0), thin).values())
    assert set(s) <= set(ma.map_appearance(peaked.astype(np.uint8), MM_6, label))


def test_vessel_grain_of_a_smooth_and_of_a_grainy_vessel():
    """A smooth vessel has no grain. One whose columns alternate 130 and 170 above a
    background of 50: on its axis each 3 x 3 window holds six pixels of its neighbours'
    value and three of its own, so the residual from the median is +-40, over a level
    (the axis' median) of 130 or 170. A class the label lacks is NaN."""
    label = np.zeros((64, 64), bool)
    label[30:34, :] = True  # 4 px: mid, across the image (no skeleton spurs at its ends)
    smooth = np.where(label, 200.0, 50.0)
    assert ma.vessel_grain(smooth, label)["vessel_grain_mid"] == pytest.approx(0.0)
    grainy = smooth.copy()
    grainy[30:34] += 20.0 * (-1.0) ** np.arange(64)
    s = ma.vessel_grain(grainy, label)
    assert s["vessel_grain_mid"] in (pytest.approx(40 / 130, rel=0.01), pytest.approx(40 / 170, rel=0.01))
    assert np.isnan(s["vessel_grain_thin"]) and np.isnan(s["vessel_grain_thick"])
    assert set(s) <= set(ma.map_appearance(grainy.astype(np.uint8), MM_6, label))


def test_band_table():
    text = """
    statistic   6mm           3mm
    mean        67    99      79     105   # ints stay ints

    slope       -2.69 -2.07   -2.13  -1.34
    """
    assert bands.table(text) == {
        "6mm": {"mean": (67, 99), "slope": (-2.69, -2.07)},
        "3mm": {"mean": (79, 105), "slope": (-2.13, -1.34)},
    }
    assert type(bands.table(text)["6mm"]["mean"][0]) is int
    with pytest.raises(ValueError, match="expected 4 numbers"):
        bands.table("statistic 6mm 3mm\nmean 1 2 3")


def test_summarize_and_out_of_band():
    rows = [{"mean": float(v), "std": 1.0} for v in range(101)]
    rows[0]["std"] = float("nan")
    summary = bands.summarize(rows)
    assert summary["mean"] == (50.0, 5.0, 95.0)
    assert summary["std"] == (1.0, 1.0, 1.0)
    for fov, fov_bands in ma.REAL_APPEARANCE.items():
        assert all(low <= high for low, high in fov_bands.values()), fov
        middle = {k: (low + high) / 2 for k, (low, high) in fov_bands.items()}
        assert ma.out_of_band(middle, fov) == {}
        assert ma.out_of_band({**middle, "gray_levels": 256.0, "other": -1.0}, fov) == {"gray_levels": 256.0}
    label = np.zeros((400, 400), bool)
    label[::20] = True
    assert set(ma.map_appearance(noise_map(4), MM_6, label)) == set(ma.REAL_APPEARANCE["6mm"])
    with pytest.raises(ValueError, match="no real bands"):
        ma.out_of_band({}, "9mm")
