"""The real Snakefile, end to end, on the tiny synthetic config."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import EQUALIZED, EXPERIMENTS, FULL, METHODS, SNAKEMAKE_ENV, job_counts, snakemake_command
from conftest import run_snakemake as snakemake

from octaseg.io import read_image, read_label
from octaseg.metrics import METRICS

IDS = range(10001, 10007)
TEST_IDS = [10005, 10006]


@pytest.mark.workflow
def test_every_output_written(run):
    data = run / "resources" / "synthetic"
    for i in IDS:
        assert len(list((data / "OCTA_6mm" / "OCTA" / str(i)).glob("*.bmp"))) == 64
        assert read_label(data / "Label" / "GT_LargeVessel" / f"{i}.bmp").shape == (64, 64)
        with h5py.File(run / "results" / "volumes" / f"{i}.h5") as f:
            assert f["octa"].shape == (64, 96, 64) and f["octa"].dtype == np.uint8
        projection = read_image(run / "results" / FULL / f"{i}.tif")
        assert projection.shape == (64, 64) and projection.dtype == np.float32
        assert read_image(run / "results" / EQUALIZED / f"{i}.png").dtype == np.uint8
        assert (run / "logs" / "ingest" / f"{i}.log").is_file()
        for modality in ["octa", "oct"]:  # the IPN's two channels
            with h5py.File(run / "results" / f"{modality}_d16" / f"{i}.h5") as f:
                assert f["blocks"].shape == (64, 64, 16)
    for exp in EXPERIMENTS:
        for name in ["best.pt", "last.pt", "history.csv", "learning_curve.png"]:
            assert (run / "results" / exp / name).is_file()
        for i in TEST_IDS:
            mask = read_label(run / "results" / exp / "masks" / f"{i}.png")
            prob = read_image(run / "results" / exp / "probability" / f"{i}.tif")
            assert mask.shape == prob.shape == (64, 64)
            assert ((prob >= 0) & (prob <= 1)).all()
            np.testing.assert_array_equal(mask, prob >= 0.5)
        assert (run / "logs" / "train" / f"{exp}.log").read_text().count("epoch") >= 1


@pytest.mark.workflow
def test_metrics_tables(run):
    for method in METHODS:
        table = pd.read_csv(run / "results" / method / "metrics.csv")
        assert table["subject"].tolist() == TEST_IDS
        for name in [*METRICS, "cldice"] + (["auc_roc", "auc_pr"] if method in EXPERIMENTS else []):
            assert table[name].between(0, 1).all(), (method, name)
        assert (table["hd95"] >= 0).all()
        assert ("auc_roc" in table) == (method in EXPERIMENTS)  # the baseline has no probabilities
    summary = pd.read_csv(run / "results" / "summary.csv")
    assert summary["method"].tolist() == METHODS
    assert (summary["n_subjects"] == len(TEST_IDS)).all()
    assert summary["dice"].between(0, 1).all()
    markdown = (run / "results" / "summary.md").read_text().splitlines()
    assert markdown[0].startswith("| method") and len(markdown) == 2 + len(METHODS)


@pytest.mark.workflow
def test_realism_report_and_figure(run):
    table = pd.read_csv(run / "results" / "realism.csv")
    assert table["subject"].tolist() == list(IDS)
    assert table["frangi_dice"].between(0, 1).all() and table["octa_mean"].gt(0).all()
    figure = cv2.imread(str(run / "results" / "figures" / "dataset_examples.png"))
    assert figure is not None and figure.shape[0] > 300 and figure.shape[1] > 300
    assert (run / "results" / "frangi_otsu" / "masks" / "10005.png").is_file()


@pytest.mark.workflow
def test_second_run_has_nothing_to_do(run):
    again = snakemake(run, "--dry-run")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.workflow
def test_changing_one_experiment_retrains_only_it(run, tmp_path):
    (tmp_path / "change.yaml").write_text("experiments:\n  direct_iou:\n    lr: 0.002\n")
    changed = snakemake(run, "--dry-run", configs=(tmp_path / "change.yaml",))
    assert changed.returncode == 0, changed.stderr[-3000:]
    stats = job_counts(changed.stdout)
    assert stats.get("train") == 1 and stats.get("evaluate") == 1, stats
    assert "exp=direct_iou" in changed.stdout and "exp=direct_ce" not in changed.stdout


@pytest.mark.workflow
def test_orientation_guard_stops_on_a_turned_label(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy, symlinks=True)
    label = copy / "resources" / "synthetic" / "Label" / "GT_LargeVessel" / "10002.bmp"
    cv2.imwrite(str(label), np.rot90(read_image(label)).copy())  # saved turned by 90 degrees
    done = snakemake(copy, "results/orientation/10002.json")
    assert done.returncode != 0
    log = (copy / "logs" / "orientation" / "10002.log").read_text()
    assert (
        "subject 10002: the label does not match the projection in the configured orientation 'flipud'" in log
    )
    assert "best match is" in log
    assert not (copy / "results" / "orientation" / "10002.json").exists()


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)["model"]


@pytest.mark.workflow
def test_killed_training_resumes_on_the_next_run(run, tmp_path):
    """SIGKILL the whole workflow (Snakemake and its jobs) while training: Snakemake
    deletes nothing it would not redo, the training state survives outside the declared
    outputs, and the next run resumes it to the same weights as an uninterrupted run."""
    longer = tmp_path / "longer.yaml"
    # long enough (about 1 s per epoch alone) that the kill lands mid-training, not after it
    longer.write_text("experiments:\n  direct_ce:\n    epochs: 6\n    steps_per_epoch: 80\n")
    target = "results/direct_ce/best.pt"
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    for copy in (killed, whole):
        shutil.copytree(run, copy, symlinks=True)
    state = killed / "results" / "direct_ce" / "resume" / "last.pt"
    cmd = snakemake_command(killed, target, configs=(longer,))
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    job = subprocess.Popen(cmd, env=SNAKEMAKE_ENV, start_new_session=True, **quiet)
    deadline = time.time() + 300
    while not state.exists() and time.time() < deadline and job.poll() is None:
        time.sleep(0.2)
    time.sleep(0.5)  # into the next epoch
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(30)
    assert state.exists(), "training never wrote its state"
    assert not torch.load(state, weights_only=True)["finished"], "killed too late: training had finished"
    assert not (killed / target).exists()  # the retraining's outputs were never complete

    # a killed Snakemake leaves its lock: --unlock once (as the README says), then rerun
    assert snakemake(killed, "--unlock", configs=(longer,)).returncode == 0
    again = snakemake(killed, target, configs=(longer,))
    assert again.returncode == 0, again.stderr[-3000:]
    log = (killed / "logs" / "train" / "direct_ce.log").read_text()
    assert "resuming from results/direct_ce/resume/last.pt" in log, log[-2000:]
    assert not state.exists()  # moved into place when finished

    done = snakemake(whole, target, configs=(longer,))
    assert done.returncode == 0, done.stderr[-3000:]
    a, b = _weights(killed / target), _weights(whole / target)
    assert all(torch.equal(a[k], b[k]) for k in a)
