"""Incremental re-runs: what Snakemake would re-run after a change, read from its dry run.

Real-data mode (``data_root``) on the dataset the session's tiny run synthesized: subjects
are discovered from its folders and split by id ranges. A dry run lists every job it
would run with its wildcards; each test changes one thing and checks that list exactly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import cv2
import pytest
from conftest import EXPERIMENTS, REPO, SNAKEMAKE_ENV, job_counts, snakemake_command
from conftest import run_snakemake as snakemake

from octaseg.io import read_image

# The dataset the tiny run synthesized, as data_root: relative to the work folder, so the
# input paths the run recorded stay the same. The split names two ids that are not there
# yet (10007 training, 10008 test): a subject folder added later joins its split.
REAL_CONFIG = """\
data_root: resources/synthetic
expect_scans: {6mm: 64, 3mm: 64}
split:
  train: 10001-10003,10007
  val: 10004
  test: 10005-10006,10008
"""
DATA = Path("resources/synthetic")
# Rules with one job per subject, and those that make one subject's model input.
PER_SUBJECT = {
    "ingest",
    "ingest_oct",
    "surfaces",
    "project",
    "equalize",
    "resample",
    "orientation",
    "baseline",
}
SUBJECT_INPUT = {
    "ingest": 1,
    "ingest_oct": 1,
    "surfaces": 1,
    "project": 3,  # OCTA(FULL), OCTA(ILM_OPL), OCT(ILM_OPL)
    "equalize": 1,
    "resample": 2,
    "orientation": 1,
}
# After new models: every test prediction, and everything that reads them.
N = len(EXPERIMENTS)
DOWNSTREAM_OF_MODELS = {"predict": N, "evaluate": N, "subject_figures": N, "roc_pr": N}
SUMMARY = {"dice_comparison": 1, "summarize": 1, "all": 1}

_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def dry_run(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> list[tuple[str, dict[str, str]]]:
    """The jobs a dry run lists, as (rule, wildcards), checked against its Job stats table."""
    done = snakemake(workdir, "--dry-run", *args, configs=configs)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in done.stdout.splitlines():
        if match := _RULE.match(line):
            jobs.append((match.group(1), {}))
        elif (match := _WILDCARDS.match(line)) and jobs:
            jobs[-1][1].update(item.split("=", 1) for item in match.group(1).split(", "))
    counts = job_counts(done.stdout) if "Job stats:" in done.stdout else {}
    assert dict(Counter(rule for rule, _ in jobs)) == {k: v for k, v in counts.items() if k != "total"}
    return jobs


def counts(jobs: list[tuple[str, dict[str, str]]]) -> dict[str, int]:
    return dict(Counter(rule for rule, _ in jobs))


def subjects(jobs: list[tuple[str, dict[str, str]]], rules: set[str]) -> set[str]:
    return {wc["id"] for rule, wc in jobs if rule in rules}


@pytest.fixture(scope="module")
def real(run, tmp_path_factory) -> tuple[Path, Path]:
    """(work folder, config): the session's run switched to real-data mode and brought up
    to date (only the dataset figure, whose title names the dataset, is redone). Copy it
    before changing anything."""
    base = tmp_path_factory.mktemp("real")
    config = base / "real.yaml"
    config.write_text(REAL_CONFIG)
    work = base / "work"
    shutil.copytree(run, work, symlinks=True)
    done = snakemake(work, configs=(config,))
    assert done.returncode == 0, done.stderr[-3000:]
    assert dry_run(work, configs=(config,)) == []
    return work, config


def _copy(real: tuple[Path, Path], tmp_path: Path) -> tuple[Path, tuple[Path, ...]]:
    work, config = real
    shutil.copytree(work, tmp_path / "work", symlinks=True)
    return tmp_path / "work", (config,)


def _add_subject(work: Path, new: int, like: int) -> None:
    """A new subject as OCTA-500 has them: B-scans (OCTA and OCT), the official projection
    maps, the layer surfaces and a label."""
    for modality in ["OCTA", "OCT"]:
        src = work / DATA / "OCTA_6mm" / modality / str(like)
        shutil.copytree(src, src.with_name(str(new)), ignore=shutil.ignore_patterns(".*"))
    for maps in (work / DATA / "OCTA_6mm" / "Projection Maps").iterdir():
        shutil.copyfile(maps / f"{like}.bmp", maps / f"{new}.bmp")
    for folder, suffix in (("GT_LargeVessel", "bmp"), ("GT_Layers", "mat")):
        labels = work / DATA / "Label" / folder
        shutil.copyfile(labels / f"{like}.{suffix}", labels / f"{new}.{suffix}")


def _replace_label(work: Path, subject: int) -> None:
    """Write a corrected label (a small block of pixels inverted) over the old one."""
    path = work / DATA / "Label" / "GT_LargeVessel" / f"{subject}.bmp"
    label = read_image(path)
    label[28:36, 28:36] = 255 - label[28:36, 28:36]
    assert cv2.imwrite(str(path), label)


@pytest.mark.workflow
def test_adding_a_test_subject_runs_only_its_jobs(real, tmp_path):
    work, configs = _copy(real, tmp_path)
    _add_subject(work, 10008, like=10006)
    jobs = dry_run(work, configs=configs)
    assert subjects(jobs, PER_SUBJECT) == {"10008"}
    assert counts(jobs) == {
        **SUBJECT_INPUT,
        "baseline": 1,
        "predict": N,  # each experiment's one job predicts the test set again; no retraining
        "evaluate": N + 1,
        "subject_figures": N + 1,
        "roc_pr": N,
        "realism": 1,
        **SUMMARY,
    }


@pytest.mark.workflow
def test_a_bscan_overwritten_in_place_reingests_its_subject(real, tmp_path):
    """Overwriting a B-scan keeps the folder's modification time; the folder's
    fingerprint (an ingest parameter) still changes, so the subject is ingested again."""
    import os
    import time

    work, configs = _copy(real, tmp_path)
    scan = work / DATA / "OCTA_6mm" / "OCTA" / "10006" / "5.bmp"
    folder_mtime = scan.parent.stat().st_mtime_ns
    image = read_image(scan)
    time.sleep(0.01)
    assert cv2.imwrite(str(scan), 255 - image)  # rewritten in place, same name
    os.utime(scan.parent, ns=(folder_mtime, folder_mtime))  # as a copy tool preserving dates would
    jobs = dry_run(work, configs=configs)
    assert subjects(jobs, {"ingest"}) == {"10006"} and counts(jobs)["ingest"] == 1
    assert "ingest_oct" not in counts(jobs)  # the OCT folder is untouched


@pytest.mark.workflow
def test_adding_a_training_subject_retrains(real, tmp_path):
    work, configs = _copy(real, tmp_path)
    _add_subject(work, 10007, like=10002)
    jobs = dry_run(work, configs=configs)
    assert subjects(jobs, PER_SUBJECT) == {"10007"}
    assert counts(jobs) == {**SUBJECT_INPUT, "train": N, **DOWNSTREAM_OF_MODELS, "realism": 1, **SUMMARY}
    # the baseline learns nothing: its masks and metrics stay
    assert not [wc for rule, wc in jobs if wc.get("method") == "frangi_otsu"]


@pytest.mark.workflow
def test_replacing_a_test_label_reevaluates_only(real, tmp_path):
    work, configs = _copy(real, tmp_path)
    _replace_label(work, 10005)
    jobs = dry_run(work, configs=configs)
    assert subjects(jobs, PER_SUBJECT) == {"10005"}
    assert counts(jobs) == {
        "orientation": 1,  # the orientation guard reads the label
        "evaluate": N + 1,
        "subject_figures": N + 1,
        "roc_pr": N,
        "realism": 1,  # label statistics of every subject
        **SUMMARY,
    }


@pytest.mark.workflow
def test_replacing_a_training_label_retrains(real, tmp_path):
    work, configs = _copy(real, tmp_path)
    _replace_label(work, 10002)
    jobs = dry_run(work, configs=configs)
    assert subjects(jobs, PER_SUBJECT) == {"10002"}
    assert counts(jobs) == {
        "orientation": 1,
        "train": N,
        **DOWNSTREAM_OF_MODELS,
        "realism": 1,
        "dataset_figure": 1,  # shows the first four subjects' labels
        **SUMMARY,
    }


@pytest.mark.workflow
def test_a_label_rewritten_unchanged_reruns_nothing(real, tmp_path):
    """A label copied anew (newer, same content): Snakemake's checksum of small inputs
    sees that it did not change."""
    work, configs = _copy(real, tmp_path)
    path = work / DATA / "Label" / "GT_LargeVessel" / "10002.bmp"
    path.write_bytes(path.read_bytes())
    assert dry_run(work, configs=configs) == []


@pytest.mark.workflow
def test_subjects_come_from_the_folder_and_the_split_ranges(run, tmp_path):
    """Only the subject folders present and named by a split are used, whether the split
    is given as ranges or as a list; an id named by two splits stops the run."""
    shutil.copytree(run / DATA, tmp_path / "data", ignore=shutil.ignore_patterns(".*"))
    (tmp_path / "data" / "OCTA_6mm" / "OCTA" / "10050").mkdir()  # in no split: ignored
    work = tmp_path / "work"
    work.mkdir()
    ranges = tmp_path / "ranges.yaml"
    ranges.write_text(
        f"data_root: {tmp_path / 'data'}\nexpect_scans: {{6mm: 64, 3mm: 64}}\n"
        "split: {train: 10001-10003, val: 10004-10004, test: 10005-10009}\n"  # 10007-10009 absent
    )
    jobs = dry_run(work, configs=(ranges,))
    assert subjects(jobs, {"ingest"}) == {str(i) for i in range(10001, 10007)}
    assert subjects(jobs, {"baseline"}) == {"10005", "10006"}

    listed = tmp_path / "listed.yaml"
    listed.write_text("split: {train: [10001, '10003'], val: '10004', test: [10006]}\n")
    jobs = dry_run(work, configs=(ranges, listed))
    assert subjects(jobs, {"ingest"}) == {"10001", "10003", "10004", "10006"}
    assert subjects(jobs, {"baseline"}) == {"10006"}

    overlap = tmp_path / "overlap.yaml"
    overlap.write_text("split: {train: 10001-10004, val: 10004, test: 10005-10006}\n")
    done = snakemake(work, "--dry-run", configs=(ranges, overlap))
    assert done.returncode != 0
    assert "subject 10004 is in both split 'train' and split 'val'" in done.stdout + done.stderr


def _workflow_copy(dest: Path) -> Path:
    """The workflow's own files (modification times kept), to edit without touching the
    repository; returns its Snakefile."""
    shutil.copy2(REPO / "Snakefile", dest / "Snakefile")
    for name in ["config.yaml", "README.md"]:
        shutil.copy2(REPO / name, dest / name)
    for folder in ["rules", "workflow_scripts", "schemas", "envs", "report", "profiles", "src", "docs"]:
        if (REPO / folder).is_dir():
            shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "Snakefile"


@pytest.mark.workflow
def test_editing_documentation_or_a_comment_retrains_nothing(run, tmp_path):
    """Comments in every kind of file the workflow has, and its documentation, edited
    after a complete run: nothing to do with the project's rerun triggers
    (profiles/default). Snakemake's default triggers would retrain every model for the
    comment in a rule's script (its `code` trigger compares the script's modification
    time), which is why the profile leaves that trigger out."""
    snakefile = _workflow_copy(tmp_path)
    edits = {
        "README.md": "\nA new paragraph.\n",
        "config.yaml": "# a comment\n",
        "Snakefile": "# a comment\n",
        "rules/train.smk": "# a comment\n",
        "workflow_scripts/train.py": "# a comment\n",
        "src/octaseg/train.py": "# a comment\n",
        "src/octaseg/io.py": "# a comment\n",
        "schemas/config.schema.yaml": "# a comment\n",
    }
    for name, text in edits.items():
        with open(tmp_path / name, "a") as f:
            f.write(text)

    def dry(*args: str) -> subprocess.CompletedProcess:
        cmd = snakemake_command(run, "--dry-run", *args)
        cmd[cmd.index("--snakefile") + 1] = str(snakefile)
        return subprocess.run(
            cmd, capture_output=True, text=True, env=SNAKEMAKE_ENV, cwd=tmp_path, timeout=300
        )

    done = dry()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nothing to be done" in done.stdout + done.stderr
    assert "Using workflow specific profile" in done.stderr

    everything = dry("--rerun-triggers", "mtime", "params", "input", "software-env", "code")
    assert everything.returncode == 0, everything.stderr[-3000:]
    assert job_counts(everything.stdout).get("train") == len(EXPERIMENTS)
