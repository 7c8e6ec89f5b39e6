"""Benchmark: ingesting one full-size 6mm subject against plainly reading its B-scans.

    python bench/bench_ingest.py [--repeat 5] [--scans 400]

Writes 400 B-scans of 640x400 (depth x width, 8-bit grayscale BMP, as OCTA-500's 6mm
subjects) into a temporary folder and reads them once so that every measurement below
finds them in the page cache. Then, side by side in this run, best of ``--repeat``:

* plain readers, each filling a uint8 volume (scan, depth, x) top row first, without
  any check: ``cv2.imread`` in a loop; ``np.fromfile`` past the 1078-byte header in a
  loop; ``readinto`` a preallocated buffer in a loop; and the fastest of these again
  on 2 threads;
* the ingest rule's work (workflow_scripts/ingest.py): ``ingest_bscans``, which checks
  every file's header and, on 2 threads, reads each B-scan with one scatter read into
  its rows and writes it at its chunk's place in the HDF5 volume (under a temporary
  name, renamed when complete); and, for information, ``read_bscan_stack`` alone and
  ``write_volume`` alone.

Prints each time; the reference the target is held to, the fastest plain reader
followed by a raw write of the volume's bytes (ingest must read the bytes and write them:
the limit that counts, decided in issue 16), and the ratio of ingest to it against the
target (at most 2x); beside it, for information, the ratio of ingest to the fastest plain
reader alone (on 2 threads; the target's first reference, which writing alone already
uses up on some machines) and to the fastest single-threaded plain reader. Also for
information, the whole ``octaseg ingest`` command (a new Python process, imports
included).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

try:
    from octaseg.io import ingest_bscans, read_bscan_stack, write_volume
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from octaseg.io import ingest_bscans, read_bscan_stack, write_volume

TARGET_RATIO = 2.0
DEPTH, WIDTH = 640, 400
HEADER = 1078  # 14 + 40 + 256 * 4: file header, BITMAPINFOHEADER, grey palette


def write_subject(folder: Path, scans: int) -> np.ndarray:
    """OCTA-like B-scans: mostly zero, some flow signal in a band."""
    rng = np.random.default_rng(0)
    volume = np.zeros((scans, DEPTH, WIDTH), np.uint8)
    volume[:, 200:380] = rng.integers(0, 40, (scans, 180, WIDTH), dtype=np.uint8)
    folder.mkdir(parents=True)
    for i, bscan in enumerate(volume, 1):
        assert cv2.imwrite(str(folder / f"{i}.bmp"), bscan)
    assert os.path.getsize(folder / "1.bmp") == HEADER + DEPTH * WIDTH  # no row padding
    return volume


def files_of(folder: Path, scans: int) -> list[str]:
    return [str(folder / f"{i}.bmp") for i in range(1, scans + 1)]


def read_cv2(files: list[str], volume: np.ndarray, indices: range) -> None:
    for i in indices:
        volume[i] = cv2.imread(files[i], cv2.IMREAD_GRAYSCALE)


def read_fromfile(files: list[str], volume: np.ndarray, indices: range) -> None:
    for i in indices:
        volume[i] = np.fromfile(files[i], np.uint8, offset=HEADER).reshape(DEPTH, WIDTH)[::-1]


def read_readinto(files: list[str], volume: np.ndarray, indices: range) -> None:
    buffer = np.empty((DEPTH, WIDTH), np.uint8)
    for i in indices:
        with open(files[i], "rb", buffering=0) as f:
            f.seek(HEADER)
            f.readinto(buffer)
        volume[i] = buffer[::-1]


def on_threads(reader: Callable, threads: int) -> Callable:
    def read(files: list[str], volume: np.ndarray, indices: range) -> None:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda k: reader(files, volume, indices[k::threads]), range(threads)))

    return read


def best_of(repeat: int, run: Callable[[], object], setup: Callable[[], object] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if setup:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--scans", type=int, default=400)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "OCTA_6mm" / "OCTA" / "10001"
        truth = write_subject(folder, args.scans)
        files = files_of(folder, args.scans)
        all_scans = range(args.scans)
        size_mb = sum(os.path.getsize(f) for f in files) / 1e6
        print(f"subject: {args.scans} B-scans of {DEPTH}x{WIDTH}, {size_mb:.0f} MB, in {folder}")

        volume = np.empty_like(truth)
        plain = {}
        for name, reader in [
            ("cv2.imread", read_cv2),
            ("np.fromfile", read_fromfile),
            ("readinto", read_readinto),
        ]:
            reader(files, volume, all_scans)  # warm: page cache, first calls
            assert np.array_equal(volume, truth), name
            plain[name] = (reader, best_of(args.repeat, lambda r=reader: r(files, volume, all_scans)))
        fastest = min(plain, key=lambda k: plain[k][1])
        threaded = on_threads(plain[fastest][0], 2)
        volume[:] = 0
        threaded(files, volume, all_scans)
        assert np.array_equal(volume, truth)
        plain[f"{fastest}, 2 threads"] = (
            threaded,
            best_of(args.repeat, lambda: threaded(files, volume, all_scans)),
        )
        for name, (_, seconds) in plain.items():
            print(f"plain reader {name:24s} {seconds:6.3f} s")
        reference_name = min(plain, key=lambda k: plain[k][1])
        reference = plain[reference_name][1]

        out = Path(tmp) / "10001.h5"

        def ingest() -> None:  # as workflow_scripts/ingest.py
            ingest_bscans(folder, out, expect_scans=args.scans, attrs={"source_folder": str(folder)})

        def read_only() -> None:
            read_bscan_stack(folder, expect_scans=args.scans, threads=2)

        def no_output() -> None:  # as in the workflow, where Snakemake removes old outputs first
            out.unlink(missing_ok=True)

        ingest()
        read_seconds = best_of(args.repeat, read_only)
        ingest_seconds = best_of(args.repeat, ingest, no_output)
        write_seconds = best_of(args.repeat, lambda: write_volume(out, truth, dataset="octa"), no_output)
        print(f"octaseg read_bscan_stack         {read_seconds:6.3f} s (checks every header, 2 threads)")
        print(f"octaseg write_volume             {write_seconds:6.3f} s (HDF5, {size_mb:.0f} MB)")
        print(f"octaseg ingest (read + write)    {ingest_seconds:6.3f} s")

        no_output()
        start = time.perf_counter()
        cli = [sys.executable, "-m", "octaseg.cli", "ingest", str(folder), str(out)]
        cli += ["--expect-scans", str(args.scans)]
        subprocess.run(cli, check=True, capture_output=True)
        print(
            f"octaseg ingest command (process) {time.perf_counter() - start:6.3f} s "
            "(imports included, for information)"
        )

        raw = Path(tmp) / "10001.raw"

        def plain_copy() -> None:  # the fastest plain reader, then the bytes to a file as they are
            plain[reference_name][0](files, volume, all_scans)
            volume.tofile(raw)

        copy_seconds = best_of(args.repeat, plain_copy, lambda: raw.unlink(missing_ok=True))
        print(f"plain read + raw write           {copy_seconds:6.3f} s")

        single = min(seconds for name, (_, seconds) in plain.items() if "threads" not in name)
        ratio = ingest_seconds / copy_seconds
        verdict = "OK" if ratio <= TARGET_RATIO else "TOO SLOW"
        print(f"plain read, then raw write / fastest plain read = {copy_seconds / reference:.2f}x")
        alone = ingest_seconds / reference
        print(f"ingest / fastest plain read ({reference_name}) = {alone:.2f}x (information)")
        print(f"ingest / fastest single-threaded plain read = {ingest_seconds / single:.2f}x (information)")
        print(
            f"ingest {ingest_seconds:.3f} s / plain read + raw write {copy_seconds:.3f} s "
            f"= {ratio:.2f}x (target <= {TARGET_RATIO:.1f}x): {verdict}; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
        )


if __name__ == "__main__":
    main()
