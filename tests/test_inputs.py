"""Bad input through the whole workflow: the run stops with an error that names the file,
what was expected and what was found, and writes nothing that looks complete.

The readers' checks themselves are unit-tested in test_io.py and test_layout.py; here a
real-data dataset (``data_root``) holds one broken subject per case and Snakemake runs
their jobs, so each message is checked where a user meets it: in the job's log and in
Snakemake's own output.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from conftest import FULL, bmp16, write_stack
from conftest import run_snakemake as snakemake

from octaseg.checkpoints import load_checkpoint, model_from_checkpoint
from octaseg.io import InputError
from octaseg.models import build_model

SCANS, DEPTH, WIDTH = 16, 12, 16  # tiny subjects: 16 B-scans of 12x16
BSCANS = "OCTA_6mm/OCTA"
LABELS = "Label/GT_LargeVessel"

# id -> (what is wrong, how to break a good subject folder, the error expected in the log)
BSCAN_CASES = {
    20002: ("missing B-scan in the middle", lambda d: (d / "8.bmp").unlink(),
            r"OCTA/20002: expected B-scans numbered 1\.\.16 without gaps, found 1 missing: 8\.bmp"),
    20004: ("B-scan of another size", lambda d: cv2.imwrite(str(d / "5.bmp"), np.zeros((12, 17), np.uint8)),
            r"20004/5\.bmp: expected a B-scan of 12x16 \(depth x width, as 1\.bmp\), found 12x17"),
    20005: ("RGB BMP", lambda d: cv2.imwrite(str(d / "3.bmp"), np.zeros((12, 16, 3), np.uint8)),
            r"20005/3\.bmp: expected an 8-bit grayscale BMP, found a RGB BMP \(24 bpp\)"),
    20006: ("16-bit BMP", lambda d: bmp16(d / "2.bmp", 12, 16),
            r"20006/2\.bmp: expected an 8-bit grayscale BMP, found a 16-bit BMP \(16 bpp\)"),
    20007: ("truncated BMP", lambda d: (d / "4.bmp").write_bytes((d / "4.bmp").read_bytes()[:-40]),
            r"20007/4\.bmp: truncated BMP: 16x12 pixels need \d+ bytes, found \d+"),
    20008: ("corrupt BMP", lambda d: (d / "6.bmp").write_bytes(b"\x00\x01garbage" * 40),
            r"20008/6\.bmp: expected a BMP file \(starts with 'BM', at least 54 bytes\), found 360 bytes"),
    20009: ("folder with zero files", lambda d: [p.unlink() for p in d.iterdir()],
            r"OCTA/20009: expected B-scan files 1\.bmp\.\.N\.bmp, found none"),
    20010: ("last B-scan missing", lambda d: (d / "16.bmp").unlink(),
            r"OCTA/20010: expected 16 B-scans, found 15"),
    20011: ("unknown file among the B-scans", lambda d: (d / "scan 3 copy.bmp").write_bytes(b"BM"),
            r"20011/scan 3 copy\.bmp: expected only B-scan files named <number>\.bmp .* found 'scan 3 "),
}  # fmt: skip
LABEL_CASES = {
    20012: ("label of the wrong size", np.tile(np.uint8([0, 255]), (20, WIDTH // 2)),
            r"GT_LargeVessel/20012\.bmp: expected a label of 16x16, found 20x16"),
    20013: ("non-binary label", np.tile(np.uint8([0, 128, 255, 0]), (SCANS, WIDTH // 4)),
            r"20013\.bmp: expected a binary label with values 0/255 or 0/1, found values 0, 128, 255"),
}  # fmt: skip
GOOD, JUNK = 20001, 20003  # a good subject, and one with Thumbs.db / .DS_Store / desktop.ini beside it

SPLIT = "split: {train: 20001-20011, val: 20012, test: 20013}\n"


def make_dataset(root: Path, ids: list[int]) -> Path:
    """Tiny good subjects in the OCTA-500 layout: B-scans and a binary label each."""
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 60, (SCANS, DEPTH, WIDTH), dtype=np.uint8)
    label = np.zeros((SCANS, WIDTH), np.uint8)
    label[:, 6:9] = 255
    (root / LABELS).mkdir(parents=True)
    for i in ids:
        write_stack(root / BSCANS / str(i), volume)
        cv2.imwrite(str(root / LABELS / f"{i}.bmp"), label)
    return root


def data_config(path: Path, root: Path, split: str = SPLIT) -> Path:
    path.write_text(f"data_root: {root}\nexpect_scans: {{6mm: {SCANS}, 3mm: {SCANS}}}\n{split}")
    return path


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """(dataset, work folder, Snakemake's result): every case's first job, run with
    --keep-going, from a dataset with one broken subject per case."""
    base = tmp_path_factory.mktemp("inputs")
    ids = [GOOD, JUNK, *BSCAN_CASES, *LABEL_CASES]
    root = make_dataset(base / "data", ids)
    for i, (_, breaks, _) in BSCAN_CASES.items():
        breaks(root / BSCANS / str(i))
    for name in ["Thumbs.db", ".DS_Store", "desktop.ini"]:
        (root / BSCANS / str(JUNK) / name).write_bytes(b"\0junk\0")
    for i, (_, label, _) in LABEL_CASES.items():
        cv2.imwrite(str(root / LABELS / f"{i}.bmp"), label)
    work = base / "work"
    work.mkdir()
    targets = [f"results/volumes/{i}.h5" for i in [GOOD, JUNK, *BSCAN_CASES]]
    targets += [f"results/orientation/{i}.json" for i in LABEL_CASES]  # the first job reading a label
    config = data_config(base / "data.yaml", root)
    done = snakemake(work, "--keep-going", *targets, configs=(config,))
    return root, work, done


@pytest.mark.workflow
@pytest.mark.parametrize("subject", list(BSCAN_CASES))
def test_bad_bscans_stop_ingest_naming_the_file(broken, subject):
    _, work, done = broken
    _, _, message = BSCAN_CASES[subject]
    assert done.returncode != 0
    log = (work / "logs" / "ingest" / f"{subject}.log").read_text()
    assert re.search(message, log), log[-2000:]
    assert re.search(message, done.stdout + done.stderr)  # shown by Snakemake too (show-failed-logs)
    # nothing under the volume's name, nor a temporary file beside it
    assert not [p.name for p in (work / "results" / "volumes").iterdir() if str(subject) in p.name]


@pytest.mark.workflow
@pytest.mark.parametrize("subject", list(LABEL_CASES))
def test_bad_labels_stop_the_run_naming_the_file(broken, subject):
    _, work, done = broken
    _, _, message = LABEL_CASES[subject]
    log = (work / "logs" / "orientation" / f"{subject}.log").read_text()
    assert re.search(message, log), log[-2000:]
    assert re.search(message, done.stdout + done.stderr)
    assert (work / "results" / FULL / f"{subject}.tif").is_file()  # its B-scans were fine
    assert not list((work / "results" / "orientation").glob(f"*{subject}*"))


@pytest.mark.workflow
def test_junk_files_beside_bscans_are_ignored(broken):
    _, work, _ = broken
    volumes = work / "results" / "volumes"
    written = sorted(p.name for p in volumes.iterdir())
    assert written == [f"{i}.h5" for i in [GOOD, JUNK, *LABEL_CASES]]  # no broken subject's, no temporary
    with h5py.File(volumes / f"{GOOD}.h5") as good, h5py.File(volumes / f"{JUNK}.h5") as junk:
        assert good["octa"].shape == (SCANS, DEPTH, WIDTH)
        np.testing.assert_array_equal(good["octa"][()], junk["octa"][()])


@pytest.mark.workflow
def test_a_subject_id_that_is_not_a_number_stops_the_run(tmp_path):
    root = make_dataset(tmp_path / "data", [20001, 20002, 20003])
    (root / BSCANS / "patient7").mkdir()
    (tmp_path / "work").mkdir()
    config = data_config(tmp_path / "data.yaml", root, "split: {train: 20001, val: 20002, test: 20003}\n")
    done = snakemake(tmp_path / "work", "--dry-run", configs=(config,))
    assert done.returncode != 0
    assert (
        f"{root / BSCANS / 'patient7'}: expected subject folders named by a numeric id, found 'patient7'"
        in (done.stdout + done.stderr)
    )


@pytest.mark.workflow
@pytest.mark.parametrize("subject", [20002, 20005], ids=["training", "test"])
def test_a_missing_label_stops_the_run_before_any_job(tmp_path, subject):
    root = make_dataset(tmp_path / "data", list(range(20001, 20006)))
    (root / LABELS / f"{subject}.bmp").unlink()
    (tmp_path / "work").mkdir()
    config = data_config(
        tmp_path / "data.yaml", root, "split: {train: 20001-20003, val: 20004, test: 20005}\n"
    )
    done = snakemake(tmp_path / "work", configs=(config,))
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "MissingInputException" in out and str(root / LABELS / f"{subject}.bmp") in out, out[-3000:]
    assert not (tmp_path / "work" / "results").exists()  # nothing ran: no volume, no model


@pytest.mark.workflow
@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train_defaults: {epoch: 3}", r"Additional properties are not allowed \('epoch' was unexpected\)"),
        ("train_defaults: {epochs: three}", r"'three' is not of type 'integer'[\s\S]*\['epochs'\]"),
        # names the key inside the experiment (the schema's if/then/else, not oneOf)
        (
            "experiments: {direct_ce: {lr: fast}}",
            r"'fast' is not of type 'number'[\s\S]*\['experiments'\]\['direct_ce'\]\['lr'\]",
        ),
        ("split: {train: 1-5, val: 6, tset: 7}", r"'tset' was unexpected"),
        ("fov: 9mm", r"'9mm' is not one of \['6mm', '3mm'\]"),
    ],
    ids=["unknown key", "wrong type", "wrong type in an experiment", "unknown split", "not allowed"],
)
def test_a_bad_setting_stops_the_run_naming_the_key(tmp_path, setting, message):
    (tmp_path / "bad.yaml").write_text(setting + "\n")
    done = snakemake(tmp_path, "--dry-run", configs=(tmp_path / "bad.yaml",))
    assert done.returncode != 0
    assert re.search(message, done.stdout + done.stderr), (done.stdout + done.stderr)[-3000:]


def _checkpoint(path: Path, spec: dict, weights: dict) -> Path:
    torch.save({"model_spec": spec, "settings": {"input": "projection"}, "model": weights}, path)
    return path


def test_a_checkpoint_of_another_model_is_refused_naming_the_file(tmp_path):
    spec = {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4, "in_channels": 1}
    weights = build_model(**spec).state_dict()
    ok = _checkpoint(tmp_path / "ok.pt", spec, weights)
    assert model_from_checkpoint(load_checkpoint(ok), ok) is not None
    # weights of a wider U-Net under this spec
    wider = build_model(**{**spec, "base": 8}).state_dict()
    path = _checkpoint(tmp_path / "wider.pt", spec, wider)
    message = (
        r"wider\.pt: expected the weights of model .*'base': 4.* found the weights of another model "
        r"\(shape down\.0\.0\.weight \(8, 1, 3, 3\) instead of \(4, 1, 3, 3\)"
    )
    with pytest.raises(InputError, match=message):
        model_from_checkpoint(load_checkpoint(path), path)
    # an IPN's weights under a U-Net spec
    ipn = build_model("ipn", channels=2, pools=[2, 2], in_channels=1).state_dict()
    path = _checkpoint(tmp_path / "ipn.pt", spec, ipn)
    with pytest.raises(
        InputError, match=r"ipn\.pt: expected the weights of model .* \(missing .*; unexpected "
    ):
        model_from_checkpoint(load_checkpoint(path), path)
    # a bare state dict, as other projects save models
    torch.save(weights, tmp_path / "bare.pt")
    with pytest.raises(InputError, match=r"bare\.pt: expected an octaseg checkpoint \(model_spec, model"):
        model_from_checkpoint(load_checkpoint(tmp_path / "bare.pt"), tmp_path / "bare.pt")


def test_predict_command_refuses_a_checkpoint_of_another_model(tmp_path):
    """Through `octaseg predict`: an error message and exit status 1, no traceback, no output."""
    spec = {"name": "unet", "base": 4, "depth": 2, "up_kernel": 4, "in_channels": 1}
    path = _checkpoint(tmp_path / "wider.pt", spec, build_model(**{**spec, "base": 8}).state_dict())
    cv2.imwrite(str(tmp_path / "10001.png"), np.zeros((32, 32), np.uint8))
    done = subprocess.run(
        [sys.executable, "-m", "octaseg.cli", "predict", "--checkpoint", str(path),
         "--input", str(tmp_path / "10001.png"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert (
        "expected the weights of model" in done.stderr and "found the weights of another model" in done.stderr
    )
    assert not (tmp_path / "out").exists()
