"""B-scan BMP stacks: a strict reader of 8-bit grayscale BMPs, the check of a subject's
B-scan folder (numbered 1..N, one size) and the threaded read of a folder into a volume.

Readers check what they read and raise :class:`~octaseg.io.errors.InputError` naming the
file, what was expected and what was found.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from octaseg.io.errors import InputError
from octaseg.layout import BSCAN_NAME, IGNORED_NAMES


def read_bmp_gray8(path: str | Path) -> np.ndarray:
    """Read an uncompressed 8-bit grayscale BMP as uint8 (rows, cols), top row first.

    Parses the header itself rather than asking OpenCV, because OpenCV silently converts
    colour and 16-bit files; here they are errors. A grey palette that is not the identity
    is applied; a colour palette is refused.
    """
    path = Path(path)
    return np.ascontiguousarray(_decode_bmp_gray8(path, path.read_bytes()))


def _decode_bmp_gray8(path: Path, data: bytes | bytearray | memoryview) -> np.ndarray:
    """:func:`read_bmp_gray8` of a file's bytes (``path`` only names it in errors). The
    result may be a view into ``data``."""
    if len(data) < 54 or bytes(data[:2]) != b"BM":
        raise InputError(
            f"{path}: expected a BMP file (starts with 'BM', at least 54 bytes), "
            f"found {len(data)} bytes starting with {bytes(data[:2])!r}"
        )
    offset, header_size = struct.unpack_from("<II", data, 10)
    if header_size < 40:
        raise InputError(f"{path}: expected a BITMAPINFOHEADER (>= 40 bytes), found {header_size}")
    width, height, _planes, bpp, compression = struct.unpack_from("<iiHHI", data, 18)
    (colors_used,) = struct.unpack_from("<I", data, 46)
    if bpp != 8:
        kind = {24: "RGB", 32: "RGBA", 16: "16-bit", 1: "1-bit", 4: "4-bit"}.get(bpp, f"{bpp}-bit")
        raise InputError(f"{path}: expected an 8-bit grayscale BMP, found a {kind} BMP ({bpp} bpp)")
    if compression != 0:
        raise InputError(f"{path}: expected an uncompressed BMP, found compression type {compression}")
    if width <= 0 or height == 0:
        raise InputError(f"{path}: expected a positive image size, found {width}x{height}")
    n_colors = colors_used or 256
    palette_end = 14 + header_size + 4 * n_colors
    if palette_end > offset or offset > len(data):
        raise InputError(f"{path}: corrupt BMP header (palette ends at {palette_end}, pixels at {offset})")
    palette = np.frombuffer(data, np.uint8, 4 * n_colors, 14 + header_size).reshape(-1, 4)[:, :3]
    if not (np.all(palette[:, 0] == palette[:, 1]) and np.all(palette[:, 1] == palette[:, 2])):
        raise InputError(f"{path}: expected an 8-bit grayscale BMP, found a colour palette")
    rows = abs(height)
    stride = (width + 3) & ~3
    need = offset + stride * rows
    if len(data) < need:
        raise InputError(f"{path}: truncated BMP: {width}x{rows} pixels need {need} bytes, found {len(data)}")
    image = np.frombuffer(data, np.uint8, stride * rows, offset).reshape(rows, stride)[:, :width]
    if height > 0:  # bottom-up rows, the usual case
        image = image[::-1]
    gray = palette[:, 0]
    if n_colors != 256 or np.any(gray != np.arange(256, dtype=np.uint8)):
        lut = np.zeros(256, np.uint8)
        lut[: len(gray)] = gray
        if int(image.max(initial=0)) >= n_colors:
            raise InputError(f"{path}: pixel index {int(image.max())} beyond the {n_colors}-colour palette")
        return lut[image]
    return image


def list_bscans(folder: str | Path) -> list[Path]:
    """The B-scan files of one subject folder in natural order (1.bmp, 2.bmp, ..., 10.bmp).

    Requires files numbered 1..N without gaps or duplicates. Names in :data:`IGNORED_NAMES`
    and hidden files are skipped; any other file is an error, since it might be a B-scan
    saved under an unexpected name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: expected a folder of B-scan BMPs, found no such folder")
    numbered: dict[int, Path] = {}
    for entry in os.scandir(folder):
        name = entry.name
        if name.lower() in IGNORED_NAMES or name.startswith("."):
            continue
        match = BSCAN_NAME.match(name)
        if not match or not entry.is_file():
            raise InputError(
                f"{folder / name}: expected only B-scan files named <number>.bmp in {folder}, found {name!r}"
            )
        number = int(match.group(1))
        if number in numbered:
            raise InputError(
                f"{folder / name}: B-scan number {number} appears twice ({numbered[number].name} and {name})"
            )
        numbered[number] = Path(entry.path)
    if not numbered:
        raise InputError(f"{folder}: expected B-scan files 1.bmp..N.bmp, found none")
    n = max(numbered)
    missing = sorted(set(range(1, n + 1)) - set(numbered))
    if 0 in numbered or missing:
        shown = ", ".join(f"{m}.bmp" for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(
            f"{folder}: expected B-scans numbered 1..{n} without gaps, "
            + (f"found {len(missing)} missing: {shown}" if missing else "found 0.bmp")
        )
    return [numbered[i] for i in range(1, n + 1)]


_IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024


class BscanFolder:
    """A subject's B-scan files, checked: numbered 1..N (exactly ``expect_scans`` if
    given), every one an 8-bit grayscale BMP of the first one's size.

    ``first`` is B-scan 1 as uint8 (depth, x); :meth:`reader` gives a function that reads
    B-scan ``i`` (0-based) into a buffer of its own, valid until its next call, so each
    thread reading takes a reader of its own.

    Files of one device share their header and palette byte for byte. A file of the
    first one's size is read with one scatter read (``preadv``): its header into a
    buffer that must equal the first file's, checked in full, and its rows straight
    into their places in the output, bottom-up rows in reverse order, so no byte is
    copied twice. Any other file, and any file of a folder whose first file has padded
    rows or a palette that is not the identity, goes through the full decoder.
    """

    def __init__(self, folder: str | Path, expect_scans: int | None = None) -> None:
        self.files = list_bscans(folder)
        if expect_scans is not None and len(self.files) != expect_scans:
            raise InputError(f"{folder}: expected {expect_scans} B-scans, found {len(self.files)}")
        data = self.files[0].read_bytes()
        self.first = np.ascontiguousarray(_decode_bmp_gray8(self.files[0], data))
        rows, width = self.first.shape
        (self._offset,) = struct.unpack_from("<I", data, 10)
        self._header, self._size = data[: self._offset], len(data)
        self._bottom_up = struct.unpack_from("<i", data, 22)[0] > 0
        stride = (width + 3) & ~3
        pixels = np.frombuffer(data, np.uint8, stride * rows, self._offset).reshape(rows, stride)
        pixels = pixels[::-1] if self._bottom_up else pixels
        self._fast = (
            stride == width
            and rows + 1 <= _IOV_MAX
            and self._size == self._offset + stride * rows
            and np.array_equal(pixels, self.first)
        )

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(scan, depth, x) of the volume."""
        return (len(self.files), *self.first.shape)

    def reader(self) -> Callable[[int], np.ndarray]:
        out = np.empty_like(self.first)
        head = bytearray(self._offset)
        rows = [memoryview(row) for row in out]
        iovecs = [memoryview(head), *(rows[::-1] if self._bottom_up else rows)]

        def read(i: int) -> np.ndarray:
            if i == 0:
                return self.first
            path = self.files[i]
            with open(path, "rb", buffering=0) as f:
                if self._fast:
                    size = os.fstat(f.fileno()).st_size
                    complete = size == self._size and os.preadv(f.fileno(), iovecs, 0) == size
                    if complete and head == self._header:
                        return out
                    f.seek(0)
                data = f.read()
            image = _decode_bmp_gray8(path, data)
            if image.shape != self.first.shape:
                raise InputError(
                    f"{path}: expected a B-scan of {self.first.shape[0]}x{self.first.shape[1]} "
                    f"(depth x width, as {self.files[0].name}), found {image.shape[0]}x{image.shape[1]}"
                )
            return image

        return read

    def each(self, threads: int, use: Callable[[int, np.ndarray], None]) -> None:
        """Call ``use(i, scan)`` for every B-scan, on ``threads`` threads that take every
        ``threads``-th scan each; ``scan`` is valid only during the call. The first
        error raised (in thread order) is raised here once all threads have stopped."""
        threads = max(1, min(threads, len(self.files)))

        def run(start: int) -> None:
            read = self.reader()
            for i in range(start, len(self.files), threads):
                use(i, read(i))

        if threads == 1:
            run(0)
            return
        with ThreadPoolExecutor(threads) as pool:
            for future in [pool.submit(run, k) for k in range(threads)]:
                future.result()


def read_bscan_stack(folder: str | Path, expect_scans: int | None = None, threads: int = 2) -> np.ndarray:
    """Read a subject's B-scans into a uint8 volume (scan, depth, x), checked as
    :class:`BscanFolder` checks them."""
    scans = BscanFolder(folder, expect_scans)
    volume = np.empty(scans.shape, np.uint8)

    def put(i: int, scan: np.ndarray) -> None:
        volume[i] = scan

    scans.each(threads, put)
    return volume
