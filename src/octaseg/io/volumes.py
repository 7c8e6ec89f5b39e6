"""HDF5 volumes: the ingested OCTA/OCT volume (scan, depth, x), written from an array or
straight from a B-scan folder, and the label-frame volume (H, W, depth) for block sampling.
Written atomically (:func:`~octaseg.io.atomic.atomic_path`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from octaseg import __version__
from octaseg.io.atomic import atomic_path
from octaseg.io.bscans import BscanFolder
from octaseg.io.errors import InputError

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
