"""Fine-tuning and the training-set size in the real workflow, on a copy of the session's
tiny run: only the drawn subjects' files are a training's inputs, init_from's checkpoint
is one too (a changed one retrains its experiment alone), `shipped` names the shipped
model's file, the encoder is frozen and then not, the learning curve is drawn, and bad
settings stop the run before it starts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import pytest
import yaml
from conftest import REPO, SNAKEMAKE_ENV, run_snakemake, snakemake_command

from octaseg.config import train_subjects

FEW = """\
experiments:
  few_tuned:
    train_subjects: {n: 2, seed: 1}
    init_from: init/start.pt
    freeze_encoder_epochs: 1
    epochs: 2
    steps_per_epoch: 4
"""
CURVE = "results/figures/learning_curve.png"
TRAIN = ["10001", "10002", "10003"]  # the tiny run's train split


@pytest.fixture(scope="module")
def tuned(run, tmp_path_factory) -> tuple[Path, Path]:
    """(work folder, config): the session's run with an experiment on 2 of its 3 training
    subjects (drawn with a seed), started from direct_ce's weights with its encoder frozen
    for the first epoch, trained and drawn in the learning curve. Copy it before changing
    anything."""
    base = tmp_path_factory.mktemp("tuned")
    work, config = base / "work", base / "few.yaml"
    shutil.copytree(run, work, symlinks=True)
    (work / "init").mkdir()
    shutil.copy2(work / "results" / "direct_ce" / "best.pt", work / "init" / "start.pt")
    config.write_text(FEW)
    done = run_snakemake(work, CURVE, configs=(config,))
    assert done.returncode == 0, done.stderr[-3000:]
    return work, config


def _jobs(work: Path, *args: str, configs: tuple[Path, ...], env: dict | None = None) -> list[dict]:
    """The jobs a dry run lists: rule, input (a list), reason and wildcards of each."""
    cmd = snakemake_command(work, "--dry-run", *args, configs=configs)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env or SNAKEMAKE_ENV, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs: list[dict] = []
    for line in done.stdout.splitlines():
        if match := re.match(r"^rule (\w+):$", line):
            jobs.append({"rule": match.group(1), "input": []})
        elif jobs and (match := re.match(r"^\s+(input|reason|wildcards): (.*)$", line)):
            key, value = match.groups()
            jobs[-1][key] = value.split(", ") if key == "input" else value
    return jobs


def _train_inputs(work: Path, exp: str, configs: tuple[Path, ...], env: dict | None = None) -> list[str]:
    (job,) = _jobs(work, f"results/{exp}/best.pt", "--forcerun", "train", configs=configs, env=env)
    return job["input"]


def _subjects(files: list[str]) -> set[str]:
    return {m.group(1) for f in files if (m := re.search(r"(\d{5})\.(tif|bmp)$", f))}


@pytest.mark.workflow
def test_train_subjects_are_the_training_inputs(tuned, tmp_path):
    work, config = tuned
    first = tmp_path / "first.yaml"
    first.write_text("experiments: {few_first: {train_subjects: 2}}\n")
    inputs = _train_inputs(work, "few_first", (config, first))
    assert _subjects(inputs) == {"10001", "10002", "10004"}  # the first two, and the val subject
    settings = yaml.safe_load((REPO / "config.yaml").read_text())
    settings["experiments"] = yaml.safe_load(FEW)["experiments"]
    drawn = {str(i) for i in train_subjects(settings, "few_tuned", [int(i) for i in TRAIN])}
    inputs = _train_inputs(work, "few_tuned", (config,))
    assert len(drawn) == 2 and _subjects(inputs) == drawn | {"10004"}
    assert "init/start.pt" in inputs
    log = (work / "logs" / "train" / "few_tuned.log").read_text()
    assert "2 train / 1 val subjects" in log and "weights from init_from init/start.pt" in log
    assert "frozen up to epoch 1" in log and "encoder unfrozen from epoch 2" in log


@pytest.mark.workflow
def test_learning_curve_figure_and_table(tuned):
    work, _ = tuned
    table = (work / "results" / "learning_curve.csv").read_text().splitlines()
    assert table[0] == "experiment,start,n,dice_mean,dice_sd,train_minutes"
    rows = [line.split(",") for line in table[1:]]
    assert [row[:3] for row in rows] == [["few_tuned", "init/start.pt", "2"]]
    assert all(0 <= float(row[3]) <= 1 and float(row[5]) > 0 for row in rows)
    image = cv2.imread(str(work / CURVE))
    assert image is not None and image.shape[0] > 300 and image.std() > 10


@pytest.mark.workflow
def test_a_changed_init_checkpoint_retrains_its_experiment_alone(tuned, tmp_path):
    work, config = tmp_path / "work", tuned[1]
    shutil.copytree(tuned[0], work, symlinks=True)
    assert _jobs(work, CURVE, configs=(config,)) == []
    shutil.copy(work / "results" / "direct_iou" / "best.pt", work / "init" / "start.pt")
    jobs = _jobs(work, CURVE, configs=(config,))
    (train,) = [job for job in jobs if job["rule"] == "train"]
    assert train["wildcards"] == "exp=few_tuned" and "init/start.pt" in train["reason"]
    assert {job["rule"] for job in jobs} == {"train", "predict", "evaluate", "learning_curve"}


@pytest.mark.workflow
def test_shipped_is_the_shipped_model_file(tuned, tmp_path):
    work, _ = tuned
    config = tmp_path / "shipped.yaml"
    shipped = "{init_from: shipped, model: {name: unet, base: 16, depth: 4}}"  # the shipped model's
    config.write_text(f"experiments: {{from_shipped: {shipped}}}\n")
    package = str(REPO / "src" / "octaseg" / "weights" / "synthetic_unet.pt")
    assert package in _train_inputs(work, "from_shipped", (config,))
    other = tmp_path / "other.pt"
    shutil.copy(work / "init" / "start.pt", other)
    env = {**SNAKEMAKE_ENV, "OCTASEG_WEIGHTS": str(other)}
    assert str(other) in _train_inputs(work, "from_shipped", (config,), env=env)


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("experiment", "message"),
    [
        ("{train_subjects: 4}", r"experiments\.bad: train_subjects: 4 asks for 4 .* has 3 \(10001-10003\)"),
        ("{init_from: nowhere.pt}", r"experiments\.bad: init_from: nowhere\.pt: no such file"),
        ("{freeze_encoder_epochs: 2}", r"experiments\.bad: freeze_encoder_epochs: 2 .* init_from is null"),
    ],
)
def test_bad_few_label_settings_stop_the_run_before_it_starts(run, tmp_path, experiment, message):
    config = tmp_path / "bad.yaml"
    config.write_text(f"experiments: {{bad: {experiment}}}\n")
    cmd = snakemake_command(run, "--dry-run", configs=(config,))
    done = subprocess.run(cmd, capture_output=True, text=True, env=SNAKEMAKE_ENV, timeout=300)
    assert done.returncode != 0 and re.search(message, done.stdout + done.stderr), done.stderr[-3000:]
