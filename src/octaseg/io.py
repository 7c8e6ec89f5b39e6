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
from collections.abc import Iterator, Mapping, Sequence
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


def iter_bscans(
    folder: str | Path, expect_scans: int | None = None, threads: int = 2
) -> tuple[int, tuple[int, int], Iterator[np.ndarray]]:
    """A subject's B-scans in order, read ``threads`` files at a time ahead of the consumer.

    Returns (number of scans, (depth, x) of every scan, iterator of uint8 (depth, x)).
    Every file must be an 8-bit grayscale BMP of the same size; with ``expect_scans`` the
    folder must hold exactly that many. Each reader thread reads into a buffer of its own,
    so a yielded scan is valid until the next one is requested: copy it to keep it.
    """
    files = list_bscans(folder)
    if expect_scans is not None and len(files) != expect_scans:
        raise InputError(f"{folder}: expected {expect_scans} B-scans, found {len(files)}")
    first_bytes = files[0].read_bytes()
    first = np.ascontiguousarray(_decode_bmp_gray8(files[0], first_bytes))
    # Files of one device share their header and palette byte for byte: a file whose
    # header equals the first one's (checked in full) is decoded without parsing it again.
    (offset,) = struct.unpack_from("<I", first_bytes, 10)
    header, size_first = first_bytes[:offset], len(first_bytes)
    bottom_up = struct.unpack_from("<i", first_bytes, 22)[0] > 0
    stride = (first.shape[1] + 3) & ~3
    threads = max(1, threads)

    def pixels(data: bytes | memoryview) -> np.ndarray:
        image = np.frombuffer(data, np.uint8, stride * first.shape[0], offset).reshape(-1, stride)
        image = image[:, : first.shape[1]]
        return np.ascontiguousarray(image[::-1] if bottom_up else image)

    # (not for a palette that maps indices to other grey values: those take the full path)
    fast = np.array_equal(pixels(first_bytes), first)

    def load(i: int, buffer: bytearray) -> np.ndarray:
        with open(files[i], "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            if len(buffer) < size:
                buffer.extend(bytes(size - len(buffer)))
            view = memoryview(buffer)[:size]
            got = f.readinto(view)
        if fast and got == size == size_first and view[:offset] == header:
            return pixels(view)
        image = _decode_bmp_gray8(files[i], view[:got])
        if image.shape != first.shape:
            raise InputError(
                f"{files[i]}: expected a B-scan of {first.shape[0]}x{first.shape[1]} "
                f"(depth x width, as {files[0].name}), found {image.shape[0]}x{image.shape[1]}"
            )
        return np.ascontiguousarray(image)

    def scans() -> Iterator[np.ndarray]:
        yield first
        # one buffer per scan in flight: threads reading, one being consumed
        buffers = [bytearray() for _ in range(2 * threads + 1)]
        with ThreadPoolExecutor(threads) as pool:
            pending = []
            for i in range(1, len(files)):
                pending.append(pool.submit(load, i, buffers[i % len(buffers)]))
                if len(pending) > 2 * threads - 1:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()

    return len(files), first.shape, scans()


def read_bscan_stack(folder: str | Path, expect_scans: int | None = None, threads: int = 2) -> np.ndarray:
    """Read a subject's B-scans into a uint8 volume (scan, depth, x), checked as
    :func:`iter_bscans` checks them."""
    n, shape, scans = iter_bscans(folder, expect_scans, threads)
    volume = np.empty((n, *shape), np.uint8)
    for i, scan in enumerate(scans):
        volume[i] = scan
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
    f: h5py.File, dataset: str, shape: tuple[int, ...], attrs: Mapping[str, Any] | None
) -> h5py.Dataset:
    ds = f.create_dataset(dataset, shape=shape, dtype=np.uint8, chunks=(1, *shape[1:]))
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
    """A B-scan folder straight into an HDF5 volume as :func:`write_volume` writes it,
    each B-scan written as it is read (reading runs ahead on ``threads``), so writing
    overlaps reading and the whole volume is never held. Returns its shape (scan, depth, x).
    Nothing is left at ``path`` if a B-scan is bad."""
    n, shape, scans = iter_bscans(folder, expect_scans, threads)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = _create_volume_dataset(f, dataset, (n, *shape), attrs)
        for i, scan in enumerate(scans):
            ds.id.write_direct_chunk((i, 0, 0), scan)
    return (n, *shape)


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
