"""Layer slabs, official projection maps and multi-channel inputs, through the real
workflow: the session's tiny run (B-scans, GT_Layers, maps) and a run that starts from
the projection maps alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import FULL
from conftest import run_snakemake as snakemake

from octaseg.io import read_image, read_label
from octaseg.layers import SURFACES, read_gt_layers
from octaseg.projection import orient, slab_projection

IDS = range(10001, 10007)
MAPS = ["OCT(FULL)", "OCT(ILM_OPL)", "OCT(OPL_BM)", "OCTA(FULL)", "OCTA(ILM_OPL)", "OCTA(OPL_BM)"]
CHANNELS = ["OCTA(FULL)", "OCTA(ILM_OPL)", "OCTA(OPL_BM)", "OCT(FULL)"]
DATA = Path("resources/synthetic")


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


@pytest.mark.workflow
def test_slab_projections_use_the_gt_layers(run):
    """The tiny run's ilm_opl_ce reads OCTA(ILM_OPL) projected between the GT_Layers
    surfaces: the surfaces file says where they came from, and the projection equals the
    slab computed here from the volume and the .mat file."""
    for i in IDS:
        with h5py.File(run / "results" / "surfaces" / f"{i}.h5") as f:
            assert "GT_Layers" in f.attrs["source"] and list(f.attrs["surfaces"]) == list(SURFACES)
        layers = read_gt_layers(run / DATA / "Label" / "GT_Layers" / f"{i}.mat")
        with h5py.File(run / "results" / "volumes" / f"{i}.h5") as f:
            volume = f["octa"][()]
        slab = read_image(run / "results" / "projections" / "octa_ilm_opl_mean" / f"{i}.tif")
        expected = orient(slab_projection(volume, layers["ILM"], layers["OPL"]), "flipud")
        np.testing.assert_allclose(slab, expected, rtol=1e-6)
        full = read_image(run / "results" / FULL / f"{i}.tif")
        assert not np.allclose(slab, full)
    assert (run / "results" / "ilm_opl_ce" / "best.pt").is_file()


@pytest.mark.workflow
def test_two_channels_from_the_volumes(run):
    """tiny_config's two_channels: OCTA(FULL) and the OCT's ILM_OPL slab, projected here,
    stacked as a two-channel model's input."""
    for i in IDS:
        oct_slab = read_image(run / "results" / "projections" / "oct_ilm_opl_mean" / f"{i}.tif")
        assert oct_slab.shape == (64, 64) and oct_slab.mean() > 20  # OCT, not OCTA, intensities
    checkpoint = torch.load(run / "results" / "two_channels" / "best.pt", weights_only=True)
    first = next(v for k, v in checkpoint["model"].items() if k.endswith("weight") and v.ndim == 4)
    assert first.shape[1] == 2
    assert checkpoint["settings"]["channels"] == ["OCTA(FULL)", "OCT(ILM_OPL)"]


@pytest.mark.workflow
def test_the_maps_experiment_reads_the_official_maps(run):
    log = (run / "logs" / "train" / "maps_ce.log").read_text()
    assert (run / "results" / "maps_ce" / "best.pt").is_file()
    settings = torch.load(run / "results" / "maps_ce" / "best.pt", weights_only=True)["settings"]
    assert settings["channels_from"] == "maps" and log
    summary = pd.read_csv(run / "results" / "summary.csv")
    assert {"ilm_opl_ce", "maps_ce"} <= set(summary["method"])


@pytest.fixture(scope="module")
def maps_only(run, tmp_path_factory) -> Path:
    """A dataset of the tiny run's maps and labels only (no B-scans, no layers), and a
    work folder in which the workflow ran from it with source: maps, a single-map
    experiment and a four-channel one."""
    base = tmp_path_factory.mktemp("maps")
    data = base / "data"
    shutil.copytree(run / DATA / "OCTA_6mm" / "Projection Maps", data / "OCTA_6mm" / "Projection Maps")
    shutil.copytree(run / DATA / "Label" / "GT_LargeVessel", data / "Label" / "GT_LargeVessel")
    config = base / "maps.yaml"
    config.write_text(
        f"data_root: {data}\n"
        "source: maps\n"
        "split: {train: 10001-10003, val: 10004, test: 10005-10006}\n"
        "experiments:\n"
        "  direct_iou: false\n  equalized_ce: false\n  ilm_opl_ce: false\n  ipn: false\n"
        "  maps_ce: false\n  two_channels: false\n"  # direct_ce reads OCTA(FULL) maps with source maps
        f"  four_channels: {{channels: {CHANNELS}}}\n".replace("'", '"')
    )
    work = base / "work"
    work.mkdir()
    done = snakemake(work, configs=(config,), timeout=1200)
    assert done.returncode == 0, done.stderr[-5000:]
    return work


@pytest.mark.workflow
def test_a_run_from_maps_alone(maps_only):
    results = maps_only / "results"
    assert not (results / "volumes").exists() and not (results / "projections").exists()
    assert not (maps_only / "logs" / "ingest").exists()
    assert not (maps_only / "resources").exists()  # no synthetic dataset either
    summary = pd.read_csv(results / "summary.csv")
    assert summary["method"].tolist() == ["direct_ce", "four_channels", "frangi_otsu"]
    assert summary["dice"].between(0, 1).all()
    for method in ["direct_ce", "four_channels"]:
        for i in (10005, 10006):
            assert read_label(results / method / "masks" / f"{i}.png").shape == (64, 64)
    # the four-channel model takes four input channels
    checkpoint = torch.load(results / "four_channels" / "best.pt", weights_only=True)
    first = next(v for k, v in checkpoint["model"].items() if k.endswith("weight") and v.ndim == 4)
    assert first.shape[1] == 4
    # maps are in the label frame already
    assert '"configured": "identity"' in (results / "orientation" / "10001.json").read_text()


@pytest.mark.workflow
def test_predict_accepts_official_maps(maps_only, run, tmp_path):
    """octaseg predict on maps: a map model on its map, the four-channel model on four
    maps joined by commas, and a model trained on the workflow's projections on a map
    (per-image normalization takes the different intensity scale)."""
    maps = run / DATA / "OCTA_6mm" / "Projection Maps"
    four = ",".join(str(maps / c / "10005.bmp") for c in CHANNELS)
    for checkpoint, image in [
        (maps_only / "results" / "direct_ce" / "best.pt", str(maps / "OCTA(FULL)" / "10005.bmp")),
        (maps_only / "results" / "four_channels" / "best.pt", four),
        (run / "results" / "direct_ce" / "best.pt", str(maps / "OCTA(FULL)" / "10005.bmp")),
    ]:
        out = tmp_path / checkpoint.parent.parent.parent.name / checkpoint.parent.name
        cmd = [sys.executable, "-m", "octaseg.cli", "predict", "--checkpoint", str(checkpoint)]
        done = subprocess.run([*cmd, "--input", image, "--out", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        probability = read_image(out / "probability" / "10005.tif")
        assert probability.shape == (64, 64) and 0 <= probability.min() <= probability.max() <= 1
    # the wrong number of channels is refused, naming what the model reads
    cmd = [sys.executable, "-m", "octaseg.cli", "predict", "--checkpoint"]
    cmd += [str(maps_only / "results" / "four_channels" / "best.pt")]
    done = subprocess.run(
        [*cmd, "--input", str(maps / "OCTA(FULL)" / "10005.bmp"), "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "4 en-face channel(s)" in done.stderr


@pytest.mark.workflow
def test_maps_source_refuses_experiments_that_need_volumes(run, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(f"data_root: {run / DATA}\nsource: maps\n")
    done = snakemake(tmp_path, "--dry-run", configs=(config,))
    assert done.returncode != 0
    assert "experiments.equalized_ce: source is maps" in done.stderr + done.stdout
    assert "equalized_ce: false" in done.stderr + done.stdout


@pytest.mark.workflow
def test_estimated_surfaces_without_gt_layers(run, tmp_path):
    """With layers: estimate the surfaces come from the OCT volume (ingested for it), close
    to the GT_Layers ones; the slab projection follows."""
    work = tmp_path / "work"
    shutil.copytree(run, work, symlinks=True)
    config = tmp_path / "estimate.yaml"
    config.write_text("layers: estimate\n")
    done = snakemake(work, "--until", "surfaces", configs=(config,))
    assert done.returncode == 0, done.stderr[-3000:]
    for i in IDS:
        with h5py.File(work / "results" / "surfaces" / f"{i}.h5") as f:
            assert "estimated" in f.attrs["source"]
            estimated = {name: f[name][()] for name in f.attrs["surfaces"]}
        truth = read_gt_layers(work / DATA / "Label" / "GT_Layers" / f"{i}.mat")
        for name, surface in estimated.items():
            assert np.abs(surface - truth[name]).mean() <= 3.0, (i, name)
