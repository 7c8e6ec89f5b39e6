"""Faults: a workflow killed with SIGKILL during ingest, run again, gives what an
uninterrupted run gives, from a raw dataset that it only ever reads; untrusted
checkpoints are never unpickled.

Killing during training is tested in test_workflow.py
(test_killed_training_resumes_on_the_next_run), NaN loss in test_training.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import REPO, SNAKEMAKE_ENV, snakemake_command
from conftest import run_snakemake as snakemake

from octaseg.checkpoints import load_checkpoint
from octaseg.io import read_image

IDS = list(range(10001, 10007))
# Everything downstream of ingest that needs no training: volumes, projections, the
# orientation guard, the baseline's masks and metrics, the realism table.
TARGETS = [
    *(f"results/volumes/{i}.h5" for i in IDS),
    *(f"results/orientation/{i}.json" for i in IDS),
    "results/frangi_otsu/metrics.csv",
    "results/realism.csv",
]
# The temporary name octaseg.io.atomic_path writes under: .<stem>.tmp<pid><suffix>
TEMPORARY = re.compile(r"^\..+\.tmp\d+(\.\w+)?$")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every file and folder under root: permissions, modification time, and for files
    size and SHA-256. Any write, creation, deletion or rename shows up as a difference."""
    state = {}
    for path in sorted([root, *root.rglob("*")]):
        info = path.lstat()
        entry: tuple = (stat.S_IMODE(info.st_mode), info.st_mtime_ns)
        if path.is_file():
            entry += (info.st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        state[str(path.relative_to(root))] = entry
    return state


def set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        write = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
        os.chmod(path, (mode | stat.S_IWUSR) if writable else (mode & ~write))


def same_content(a: Path, b: Path) -> bool:
    """Whether two outputs hold the same results: HDF5 datasets and images by their
    arrays (an HDF5 volume records the folder it came from), other files byte for byte."""
    if a.suffix == ".h5":
        with h5py.File(a) as fa, h5py.File(b) as fb:
            return sorted(fa) == sorted(fb) and all(np.array_equal(fa[k][()], fb[k][()]) for k in fa)
    if a.suffix in {".tif", ".png"}:
        return np.array_equal(read_image(a), read_image(b))
    if a.suffix == ".json":
        return json.loads(a.read_text()) == json.loads(b.read_text())
    return a.read_bytes() == b.read_bytes()


def outputs(results: Path) -> tuple[list[Path], list[Path]]:
    """(files with their final names, temporary files) under results/."""
    files = sorted(p for p in results.rglob("*") if p.is_file())
    temporary = [p for p in files if TEMPORARY.match(p.name)]
    return [p for p in files if p not in temporary], temporary


@pytest.mark.workflow
def test_killed_ingest_reruns_to_the_same_results_reading_the_dataset_only(run, tmp_path):
    """SIGKILL the whole workflow (Snakemake and its jobs) while it ingests; every file
    it left under its final name is complete; the next run (after --unlock) finishes with
    the same results as the uninterrupted run. The dataset is a read-only copy, and its
    snapshot (every file's bytes, every file's and folder's modification time and
    permissions) is the same after both runs. Permissions alone would prove nothing where
    the tests run as root, who may write anyway."""
    data = tmp_path / "data"
    # the dataset the session's run synthesized, without Snakemake's folder timestamps
    shutil.copytree(run / "resources" / "synthetic", data, ignore=shutil.ignore_patterns(".snakemake*"))
    set_writable(data, False)
    before = snapshot(data)
    config = tmp_path / "data.yaml"
    config.write_text(
        f"data_root: {data}\nexpect_scans: {{6mm: 64, 3mm: 64}}\n"
        "split: {train: 10001-10003, val: 10004, test: 10005-10006}\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    volumes, logs = work / "results" / "volumes", work / "logs" / "ingest"
    try:
        cmd = snakemake_command(work, *TARGETS, configs=(config,))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        job = subprocess.Popen(cmd, env=SNAKEMAKE_ENV, start_new_session=True, **quiet)

        def finished() -> list[str]:
            return sorted(p.name for p in volumes.glob("*.h5") if not TEMPORARY.match(p.name))

        def in_flight() -> list[int]:
            """Subjects whose ingest job has started (its log is open) but not finished."""
            return [i for i in IDS if (logs / f"{i}.log").exists() and not (volumes / f"{i}.h5").exists()]

        def writing() -> list[str]:
            return [p.name for p in volumes.glob("*.h5") if TEMPORARY.match(p.name)]

        # kill while a volume is being written, or else between a finished volume and
        # the next one's end
        deadline = time.time() + 300
        while time.time() < deadline and job.poll() is None:
            if writing() or (finished() and in_flight()):
                break
            time.sleep(0.005)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
        assert len(finished()) < len(IDS) and in_flight(), f"not killed during ingest: {finished()}"

        # what the kill left: under final names only complete, correct files
        final, leftovers = outputs(work / "results")
        for path in final:
            assert same_content(path, run / path.relative_to(work)), path

        assert snakemake(work, "--unlock", configs=(config,)).returncode == 0
        again = snakemake(work, *TARGETS, configs=(config,))
        assert again.returncode == 0, again.stderr[-3000:]
    finally:
        after = snapshot(data)
        set_writable(data, True)  # for the clean-up of tmp_path
    assert after == before, "the raw dataset changed"

    final, temporary = outputs(work / "results")
    for target in TARGETS:
        assert work / target in final
    for path in final:
        assert same_content(path, run / path.relative_to(work)), path
    # a job killed while writing may leave its temporary file (a hidden name no rule
    # reads); the run after the kill leaves none of its own
    assert set(temporary) <= set(leftovers), temporary


def test_an_untrusted_pickle_is_refused_unopened(tmp_path):
    """A checkpoint that would run code when unpickled is refused by load_checkpoint
    (torch.load with weights_only=True) before that code runs."""
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    torch.save({"model_spec": {"name": "unet"}, "settings": {}, "model": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not marker.exists()


def test_every_torch_load_is_weights_only():
    """The package, the rules' scripts and the benchmarks load checkpoints only through
    torch.load(..., weights_only=True)."""
    calls = []
    for folder in ["src", "workflow_scripts", "bench"]:
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text()
            for match in re.finditer(r"torch\.load\(", text):
                end = text.index(")", match.end())
                calls.append((path.name, text[match.start() : end + 1]))
    assert calls, "no torch.load found: has loading moved?"
    assert all("weights_only=True" in call for _, call in calls), calls
