"""Ingest: natural order, validation of every B-scan, HDF5 round trip, atomic writes."""

from __future__ import annotations

import struct

import cv2
import h5py
import numpy as np
import pytest
from conftest import bmp16, write_stack

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


def test_16bit_refused(stack):
    folder, _ = stack
    bmp16(folder / "2.bmp", 24, 16)
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


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_streaming_ingest_equals_read_then_write(tmp_path, rng, threads):
    """ingest_bscans writes each B-scan as it is read, through reused buffers: the file
    must equal write_volume of the stacked volume, whatever the thread count."""
    from octaseg.io import ingest_bscans

    volume = rng.integers(0, 256, size=(23, 18, 12), dtype=np.uint8)  # 12: rows unpadded
    folder = write_stack(tmp_path / "10001", volume)
    assert (
        ingest_bscans(folder, tmp_path / "a.h5", threads=threads, attrs={"source_folder": "x"})
        == volume.shape
    )
    write_volume(tmp_path / "b.h5", volume, {"source_folder": "x"})
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        np.testing.assert_array_equal(a["octa"][()], volume)
        assert (
            a["octa"].chunks == b["octa"].chunks
            and dict(a["octa"].attrs).keys() == dict(b["octa"].attrs).keys()
        )
    np.testing.assert_array_equal(read_bscan_stack(folder, threads=threads), volume)


def test_streaming_ingest_leaves_nothing_on_a_bad_scan(tmp_path, rng):
    from octaseg.io import ingest_bscans

    volume = rng.integers(0, 256, size=(9, 18, 12), dtype=np.uint8)
    folder = write_stack(tmp_path / "10001", volume)
    cv2.imwrite(str(folder / "7.bmp"), np.zeros((18, 16), np.uint8))
    with pytest.raises(InputError, match=r"7\.bmp: expected a B-scan of 18x12"):
        ingest_bscans(folder, tmp_path / "out" / "v.h5")
    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_path_removes_a_killed_writers_temporary(tmp_path):
    stale = tmp_path / ".v.tmp12345.h5"  # as left by a SIGKILLed process 12345
    stale.write_bytes(b"half")
    other = tmp_path / ".w.tmp12345.h5"  # another output's: kept
    other.write_bytes(b"half")
    with atomic_path(tmp_path / "v.h5") as tmp:
        tmp.write_bytes(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".w.tmp12345.h5", "v.h5"]


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


def _bmp8(image: np.ndarray, palette: np.ndarray, top_down: bool = False) -> bytes:
    """An 8-bit BMP of ``image`` with a grey ``palette`` (256 values) written by hand."""
    rows, width = image.shape
    stride = (width + 3) & ~3
    padded = np.zeros((rows, stride), np.uint8)
    padded[:, :width] = image if top_down else image[::-1]
    offset = 14 + 40 + 1024
    header = struct.pack("<2sIHHI", b"BM", offset + padded.size, 0, 0, offset)
    info = struct.pack(
        "<IiiHHIIiiII", 40, width, -rows if top_down else rows, 1, 8, 0, padded.size, 0, 0, 256, 0
    )
    colors = np.repeat(palette.astype(np.uint8)[:, None], 4, axis=1)
    colors[:, 3] = 0
    return header + info + colors.tobytes() + padded.tobytes()


@pytest.mark.parametrize("top_down", [False, True])
@pytest.mark.parametrize("width", [12, 13])  # 13: rows padded to 16 bytes
def test_stack_palettes_and_row_orders(tmp_path, rng, top_down, width):
    """The shared-header fast path gives what the full decoder gives: an inverted grey
    palette is applied to every file, bottom-up and top-down rows, padded rows."""
    volume = rng.integers(0, 256, size=(7, 9, width), dtype=np.uint8)
    for name, palette in [("identity", np.arange(256)), ("inverted", 255 - np.arange(256))]:
        folder = tmp_path / name
        folder.mkdir()
        for i, scan in enumerate(volume):
            (folder / f"{i + 1}.bmp").write_bytes(_bmp8(scan, palette, top_down))
        expected = palette.astype(np.uint8)[volume]
        np.testing.assert_array_equal(read_bscan_stack(folder), expected)
        np.testing.assert_array_equal(read_bmp_gray8(folder / "3.bmp"), expected[2])
