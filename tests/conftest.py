"""Shared test helpers: small B-scan folders written as real BMP files, and one run of
the real workflow on the tiny config that every workflow-level test reads."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest


def write_stack(folder: Path, volume: np.ndarray, names: list[str] | None = None) -> Path:
    """Write volume (scan, depth, x) as <i>.bmp files (1-based) into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, bscan in enumerate(volume):
        name = names[i] if names else f"{i + 1}.bmp"
        assert cv2.imwrite(str(folder / name), bscan)
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def stack(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    """A 12-scan folder of 24x16 B-scans whose scan s is filled with value s+1 plus noise."""
    volume = rng.integers(0, 50, size=(12, 24, 16), dtype=np.uint8)
    volume[:, 0, 0] = np.arange(1, 13)
    return write_stack(tmp_path / "10001", volume), volume


REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "tiny_config.yaml"
#: The tiny run's experiments (config.yaml's, with tiny_config.yaml's ipn and
#: two_channels), in the workflow's order, and its methods: the experiments and the baseline.
EXPERIMENTS = ["direct_ce", "direct_iou", "equalized_ce", "ilm_opl_ce", "ipn", "maps_ce", "two_channels"]
METHODS = [*EXPERIMENTS, "frangi_otsu"]
#: Where the workflow writes a subject's OCTA(FULL) mean projection, and its equalized image.
FULL = "projections/octa_full_mean"
EQUALIZED = "equalized/octa_full_mean"


SNAKEMAKE_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def snakemake_command(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> list[str]:
    """The command running the real Snakefile on the tiny config (plus ``configs``) in
    ``workdir`` on 2 cores; run it with env=SNAKEMAKE_ENV."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    cmd += ["--directory", str(workdir), "--configfile", str(TINY), *map(str, configs)]
    return [*cmd, "--cores", "2", *args]


def run_snakemake(
    workdir: Path, *args: str, configs: tuple[Path, ...] = (), timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command` to its end."""
    cmd = snakemake_command(workdir, *args, configs=configs)
    return subprocess.run(cmd, capture_output=True, text=True, env=SNAKEMAKE_ENV, timeout=timeout)


@pytest.fixture(scope="session")
def run(tmp_path_factory) -> Path:
    """A work folder in which the whole tiny workflow has run once (shared: read it, or
    copy it before changing anything)."""
    workdir = tmp_path_factory.mktemp("run")
    done = run_snakemake(workdir, timeout=1800)  # minutes alone; far longer on a busy machine
    assert done.returncode == 0, done.stderr[-5000:]
    return workdir


def bmp16(path: Path, h: int, w: int) -> None:
    """Write a (blank) 16-bit BMP of h x w: a format the reader must refuse."""
    stride = (2 * w + 3) & ~3
    pixels = b"\0" * stride * h
    header = struct.pack("<2sIHHI", b"BM", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, 0, len(pixels), 0, 0, 0, 0)
    path.write_bytes(header + info + pixels)


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run: rule -> number of jobs."""
    lines = dry_run_output.split("Job stats:")[1].splitlines()[3:]
    counts = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts
