"""Reading and writing the files of the workflow: B-scan BMP stacks, HDF5 volumes, 2D images.

Every writer here writes to a temporary name beside the target and renames it into place
only when the file is complete, so an interrupted job never leaves a file that looks done.
Readers check what they read and raise :class:`InputError` naming the file, what was
expected and what was found.
"""

from __future__ import annotations

import csv
import os
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np

from octaseg import __version__
from octaseg.layout import BSCAN_NAME, IGNORED_NAMES


class InputError(ValueError):
    """Bad input data: the message names the file, what was expected and what was found."""


# --------------------------------------------------------------------------- atomic writes


def _tmp_sibling(path: Path) -> Path:
    # keep the suffix last: OpenCV picks the format from it
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Temporaries of ``path`` that a killed process left behind are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob_escape(path.stem)}.tmp*{glob_escape(path.suffix)}"):
        stale.unlink(missing_ok=True)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- BMP


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


# --------------------------------------------------------------------------- HDF5 volumes

VOLUME_DATASET = "octa"


def write_volume(
    path: str | Path,
    volume: np.ndarray,
    attrs: Mapping[str, Any] | None = None,
    dataset: str = VOLUME_DATASET,
) -> None:
    """Write a uint8 volume (scan, depth, x) to an HDF5 dataset (``octa``, or ``oct`` for OCT),
    one chunk per B-scan."""
    if volume.ndim != 3 or volume.dtype != np.uint8:
        raise ValueError(f"expected a uint8 volume (scan, depth, x), got {volume.dtype} {volume.shape}")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = _create_volume_dataset(f, dataset, volume.shape, attrs)
        ds[...] = volume


def _create_volume_dataset(
    f: h5py.File, dataset: str, shape: tuple[int, ...], attrs: Mapping[str, Any] | None, **options: Any
) -> h5py.Dataset:
    ds = f.create_dataset(dataset, shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]), **options)
    ds.attrs["axes"] = "scan,depth,x"
    ds.attrs["shape"] = shape
    ds.attrs["n_bscans"] = shape[0]
    ds.attrs["octaseg_version"] = __version__
    for key, value in (attrs or {}).items():
        ds.attrs[key] = value
    return ds


def ingest_bscans(
    folder: str | Path,
    path: str | Path,
    expect_scans: int | None = None,
    dataset: str = VOLUME_DATASET,
    attrs: Mapping[str, Any] | None = None,
    threads: int = 2,
) -> tuple[int, int, int]:
    """A B-scan folder straight into an HDF5 volume laid out as :func:`write_volume`
    lays it out (one chunk per B-scan). Returns its shape (scan, depth, x).

    The HDF5 file is created first with every chunk allocated (and not filled); then
    ``threads`` threads each read B-scans and write them with ``pwrite`` at their
    chunk's place in the file, so reading and writing overlap and the whole volume is
    never held. Nothing is left at ``path`` if a B-scan is bad."""
    scans = BscanFolder(folder, expect_scans)
    with atomic_path(path) as tmp:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        with h5py.File(tmp, "w") as f:
            ds = _create_volume_dataset(f, dataset, scans.shape, attrs, dcpl=dcpl, fill_time="never")
            offsets = np.zeros(len(scans), np.int64)
            ds.id.chunk_iter(lambda chunk: offsets.__setitem__(chunk.chunk_offset[0], chunk.byte_offset))
        if not offsets.all():  # every chunk allocated at creation, none at offset 0
            raise RuntimeError(f"{tmp}: HDF5 did not allocate every chunk of {dataset!r} at creation")
        fd = os.open(tmp, os.O_WRONLY)
        try:
            scans.each(threads, lambda i, scan: _pwrite_all(fd, scan, int(offsets[i])))
        finally:
            os.close(fd)
    return scans.shape


def _pwrite_all(fd: int, data: np.ndarray, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def read_volume(path: str | Path, dataset: str = VOLUME_DATASET) -> np.ndarray:
    """Read a volume (scan, depth, x) of an HDF5 file written by :func:`write_volume`."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if dataset not in f:
            raise InputError(f"{path}: expected an HDF5 dataset {dataset!r}, found {list(f)}")
        ds = f[dataset]
        if ds.ndim != 3:
            raise InputError(f"{path}: expected a 3D volume (scan, depth, x), found shape {ds.shape}")
        return ds[()]


BLOCKS_DATASET = "blocks"


def write_blocks_volume(path: str | Path, volume: np.ndarray, attrs: Mapping[str, Any] | None = None) -> None:
    """Write a label-frame volume (H, W, depth) for block sampling: float16, chunked in
    32 x 32 columns of full depth so that a block read touches only its own chunks. Its
    mean and standard deviation are stored as attributes for normalization."""
    if volume.ndim != 3:
        raise ValueError(f"expected a volume (H, W, depth), got shape {volume.shape}")
    chunks = (min(32, volume.shape[0]), min(32, volume.shape[1]), volume.shape[2])
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset(BLOCKS_DATASET, data=volume.astype(np.float16), chunks=chunks)
        ds.attrs["axes"] = "row,col,depth (label frame)"
        ds.attrs["mean"] = float(volume.mean(dtype=np.float64))
        ds.attrs["std"] = float(volume.std(dtype=np.float64))
        ds.attrs["octaseg_version"] = __version__
        for key, value in (attrs or {}).items():
            ds.attrs[key] = value


def read_blocks_volume(path: str | Path) -> tuple[np.ndarray, float, float]:
    """The whole label-frame volume (H, W, depth) as float32, with its mean and std."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if BLOCKS_DATASET not in f:
            raise InputError(f"{path}: expected an HDF5 dataset {BLOCKS_DATASET!r}, found {list(f)}")
        ds = f[BLOCKS_DATASET]
        return ds[()].astype(np.float32), float(ds.attrs["mean"]), float(ds.attrs["std"])


# --------------------------------------------------------------------------- 2D images


def read_image(path: str | Path) -> np.ndarray:
    """Read a single-channel image (BMP strictly, other formats through OpenCV) as (H, W)."""
    path = Path(path)
    if path.suffix.lower() == ".bmp":
        return read_bmp_gray8(path)
    if not path.is_file():
        raise InputError(f"{path}: expected an image file, found none")
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(f"{path}: expected an image OpenCV can read, found an unreadable file")
    if image.ndim != 2:
        raise InputError(f"{path}: expected a single-channel image, found shape {image.shape}")
    return image


def write_image(path: str | Path, image: np.ndarray) -> None:
    """Write a 2D image; the format follows the suffix (.png, .bmp, .tif for float32)."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {image.shape}")
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(image)):
            raise OSError(f"{path}: OpenCV could not write a {image.dtype} image")


def read_label(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary vessel label (values 0/255 or 0/1) as a bool array (H, W)."""
    image = read_image(path)
    if shape is not None and image.shape != tuple(shape):
        raise InputError(
            f"{path}: expected a label of {shape[0]}x{shape[1]}, found {image.shape[0]}x{image.shape[1]}"
        )
    values = np.unique(image)
    if not (set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}):
        shown = ", ".join(str(v) for v in values[:8]) + (" ..." if len(values) > 8 else "")
        raise InputError(f"{path}: expected a binary label with values 0/255 or 0/1, found values {shown}")
    return image > 0


def write_csv(
    path: str | Path, rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None
) -> None:
    """Write rows (mappings with the same keys) as CSV atomically; floats with 6 decimals."""
    fields = list(fields or (rows[0].keys() if rows else []))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: f"{v:.6f}" if isinstance(v, float) else v for k, v in row.items()})
