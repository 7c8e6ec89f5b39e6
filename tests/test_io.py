"""Ingest: natural order, validation of every B-scan, HDF5 round trip, atomic writes."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from octaseg import __version__
from octaseg.io import (
    InputError,
    atomic_path,
    list_bscans,
    read_bmp_gray8,
    read_bscan_stack,
    read_label,
    read_volume,
    write_image,
    write_volume,
)


def test_natural_order(stack):
    folder, volume = stack
    files = list_bscans(folder)
    assert [f.name for f in files] == [f"{i}.bmp" for i in range(1, 13)]
    read = read_bscan_stack(folder, expect_scans=12)
    np.testing.assert_array_equal(read, volume)
    assert read[:, 0, 0].tolist() == list(range(1, 13))  # 10.bmp after 9.bmp, not after 1.bmp


def test_bmp_reader_matches_opencv(tmp_path, rng):
    for shape in [(7, 5), (640, 400), (3, 13)]:  # odd widths exercise row padding
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        cv2.imwrite(str(tmp_path / "a.bmp"), image)
        np.testing.assert_array_equal(read_bmp_gray8(tmp_path / "a.bmp"), image)


def test_ignores_thumbs_and_hidden_files(stack):
    folder, volume = stack
    (folder / "Thumbs.db").write_bytes(b"junk")
    (folder / ".DS_Store").write_bytes(b"junk")
    np.testing.assert_array_equal(read_bscan_stack(folder), volume)


def test_missing_bscan_named(stack):
    folder, _ = stack
    (folder / "7.bmp").unlink()
    with pytest.raises(InputError, match=r"missing: 7\.bmp"):
        read_bscan_stack(folder)


def test_expected_count(stack):
    folder, _ = stack
    with pytest.raises(InputError, match="expected 400 B-scans, found 12"):
        read_bscan_stack(folder, expect_scans=400)


def test_unexpected_file_named(stack):
    folder, _ = stack
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError, match=r"notes\.txt"):
        read_bscan_stack(folder)


def test_wrong_size_named(stack):
    folder, _ = stack
    cv2.imwrite(str(folder / "5.bmp"), np.zeros((24, 17), np.uint8))
    with pytest.raises(InputError, match=r"5\.bmp: expected a B-scan of 24x16 .* found 24x17"):
        read_bscan_stack(folder)


def test_rgb_refused(stack):
    folder, _ = stack
    cv2.imwrite(str(folder / "3.bmp"), np.zeros((24, 16, 3), np.uint8))
    with pytest.raises(InputError, match=r"3\.bmp: expected an 8-bit grayscale BMP, found a RGB BMP"):
        read_bscan_stack(folder)


def _bmp16(path: Path, h: int, w: int) -> None:
    stride = (2 * w + 3) & ~3
    pixels = b"\0" * stride * h
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 0, len(pixels), 0, 0, 0, 0)
    path.write_bytes(header + info + pixels)


def test_16bit_refused(stack):
    folder, _ = stack
    _bmp16(folder / "2.bmp", 24, 16)
    with pytest.raises(InputError, match=r"2\.bmp: expected an 8-bit grayscale BMP, found a 16-bit BMP"):
        read_bscan_stack(folder)


def test_truncated_refused(stack):
    folder, _ = stack
    data = (folder / "4.bmp").read_bytes()
    (folder / "4.bmp").write_bytes(data[: len(data) - 40])
    with pytest.raises(InputError, match=r"4\.bmp: truncated BMP"):
        read_bscan_stack(folder)


def test_not_a_bmp_refused(stack):
    folder, _ = stack
    (folder / "4.bmp").write_bytes(b"\x89PNG not really")
    with pytest.raises(InputError, match=r"4\.bmp: expected a BMP file"):
        read_bscan_stack(folder)


def test_empty_folder(tmp_path):
    (tmp_path / "10001").mkdir()
    with pytest.raises(InputError, match="found none"):
        read_bscan_stack(tmp_path / "10001")


def test_volume_roundtrip_and_attributes(tmp_path, stack):
    folder, volume = stack
    out = tmp_path / "v.h5"
    write_volume(out, volume, {"source_folder": str(folder)})
    np.testing.assert_array_equal(read_volume(out), volume)
    with h5py.File(out) as f:
        ds = f["octa"]
        assert ds.dtype == np.uint8 and ds.shape == (12, 24, 16)
        assert ds.chunks == (1, 24, 16)
        assert ds.attrs["source_folder"] == str(folder)
        assert ds.attrs["n_bscans"] == 12
        assert tuple(ds.attrs["shape"]) == (12, 24, 16)
        assert ds.attrs["octaseg_version"] == __version__
    assert sorted(p.name for p in tmp_path.iterdir()) == ["10001", "v.h5"]  # no temp file left


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_float_image_roundtrip(tmp_path, rng):
    image = rng.random((9, 11)).astype(np.float32)
    write_image(tmp_path / "p.tif", image)
    from octaseg.io import read_image

    np.testing.assert_array_equal(read_image(tmp_path / "p.tif"), image)


def test_label_checks(tmp_path):
    label = np.zeros((8, 8), np.uint8)
    label[2:4] = 255
    cv2.imwrite(str(tmp_path / "ok.bmp"), label)
    assert read_label(tmp_path / "ok.bmp").sum() == 16
    with pytest.raises(InputError, match="expected a label of 9x8, found 8x8"):
        read_label(tmp_path / "ok.bmp", (9, 8))
    label[0, 0] = 128
    cv2.imwrite(str(tmp_path / "bad.bmp"), label)
    with pytest.raises(InputError, match=r"bad\.bmp: expected a binary label .* found values 0, 128, 255"):
        read_label(tmp_path / "bad.bmp")
