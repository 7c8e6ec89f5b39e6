"""Subject discovery for every `source`: B-scan folders, official maps (only those the
experiments read) and a plain folder pair, the per-field-of-view split, and each error a
copy of the data can raise: on tiny datasets written here."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import REPO, job_counts
from conftest import run_snakemake as snakemake
from snakemake.utils import update_config

from octaseg.config import check_experiments, data_layout, reference_map, split_ranges, splits
from octaseg.io import read_image
from octaseg.layout import label_path, map_path

ILM = "OCTA(ILM_OPL)"
IDS = range(10001, 10007)
SPLIT = {"train": "10001-10003", "val": "10004", "test": "10005-10006"}
# config.yaml's experiments that read more than the OCTA(ILM_OPL) map, off; one more reads it
MAPS_EXPERIMENTS = {
    "direct_ce": False,
    "direct_iou": False,
    "equalized_ce": False,
    "maps_ce": False,
    "ipn": False,
    "ilm_opl_iou": {"channels": [ILM], "loss": "iou"},
}
# with source folders, the experiments that need volumes are off
FOLDER_EXPERIMENTS = {"equalized_ce": False, "ipn": False}
BASE = yaml.safe_load((REPO / "config.yaml").read_text())


def make_config(root: Path | None, **settings) -> dict:
    """config.yaml with ``settings`` merged in key by key, as Snakemake merges config files."""
    config = copy.deepcopy(BASE)
    update_config(config, {"data_root": None if root is None else str(root), "split": SPLIT, **settings})
    check_experiments(config)
    return config


def image(seed: int = 0, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)


def label(size: int = 64) -> np.ndarray:
    out = np.zeros((size, size), np.uint8)
    out[:, size // 3 : size // 3 + 3] = 255
    return out


def write(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), pixels)
    return path


def maps_copy(root: Path, ids=IDS, folders=(ILM,), fov: str = "6mm") -> Path:
    """A copy like a real user's OCTA-500 subset: maps of some folders and the labels."""
    for i in ids:
        for folder in folders:
            write(map_path(root, fov, folder, i), image(i))
        write(label_path(root, i), label())
    return root


def folders_copy(root: Path, ids=IDS) -> Path:
    """A plain folder pair, names and formats mixed as collected copies have them."""
    suffixes = [".bmp", ".png", ".tif"]
    for k, i in enumerate(ids):
        write(root / "images" / f"{i}{suffixes[k % 3]}", image(i))
        name = [f"{i}.bmp", f"{i}_label.png", f"{i}.png"][k % 3]
        write(root / "labels" / name, label())
    for folder in ["images", "labels"]:  # what devices and file browsers leave
        for junk in ["Thumbs.db", ".DS_Store", "desktop.ini", ".hidden.png"]:
            (root / folder / junk).write_bytes(b"\0junk")
    return root


# ----------------------------------------------------------------------------- bscans


def test_bscans_discovery_is_unchanged(tmp_path):
    for i in [*IDS, 10050]:  # 10050: in no split
        (tmp_path / "OCTA_6mm" / "OCTA" / str(i)).mkdir(parents=True)
    config = make_config(tmp_path)
    layout = data_layout(config)
    assert splits(config, layout) == {
        "train": [10001, 10002, 10003],
        "val": [10004],
        "test": [10005, 10006],
    }
    # labels are not listed (Snakemake names a missing one), their path is OCTA-500's
    assert layout.label(10001) == tmp_path / "Label" / "GT_LargeVessel" / "10001.bmp"
    assert layout.en_face("OCTA(FULL)", 10001) == map_path(tmp_path, "6mm", "OCTA(FULL)", 10001)


# ----------------------------------------------------------------------------- maps


def test_maps_with_only_ilm_opl(tmp_path):
    """A copy holding only OCTA(ILM_OPL) maps and the labels: subjects come from them,
    the experiments read those maps, and the ILM_OPL map stands for each subject."""
    root = maps_copy(tmp_path, ids=[*IDS, 10100])  # 10100: in no split, ignored
    config = make_config(root, source="maps", experiments=MAPS_EXPERIMENTS)
    layout = data_layout(config)
    assert splits(config, layout)["test"] == [10005, 10006]
    assert reference_map(config) == ILM
    assert layout.en_face(ILM, 10005) == root / "OCTA_6mm" / "Projection Maps" / ILM / "10005.bmp"
    assert layout.label(10005) == root / "Label" / "GT_LargeVessel" / "10005.bmp"


def test_maps_reference_is_the_full_map_when_an_experiment_reads_it(tmp_path):
    root = maps_copy(tmp_path, folders=(ILM, "OCTA(FULL)"))
    config = make_config(root, source="maps", experiments={**MAPS_EXPERIMENTS, "direct_ce": None})
    assert splits(config)["train"] == [10001, 10002, 10003]
    assert reference_map(config) == "OCTA(FULL)"
    # without it: the first channel of the first experiment by name
    two = {**MAPS_EXPERIMENTS, "a_two": {"channels": ["OCT(FULL)", ILM]}}
    maps_copy(tmp_path, folders=("OCT(FULL)",))
    assert reference_map(make_config(root, source="maps", experiments=two)) == "OCT(FULL)"


def test_maps_missing_map_names_file_subject_and_experiments(tmp_path):
    root = maps_copy(tmp_path)
    gone = map_path(root, "6mm", ILM, 10005)
    gone.unlink()
    config = make_config(root, source="maps", experiments=MAPS_EXPERIMENTS)
    with pytest.raises(ValueError, match=r"1 file\(s\) missing") as err:
        splits(config)
    message = str(err.value)
    assert f"subject 10005 (split test): no {gone}: its {ILM} map" in message
    assert "experiment(s) ilm_opl_ce, ilm_opl_iou read" in message


def test_maps_missing_label_names_it(tmp_path):
    root = maps_copy(tmp_path)
    label_path(root, 10002).unlink()
    config = make_config(root, source="maps", experiments=MAPS_EXPERIMENTS)
    with pytest.raises(ValueError) as err:
        splits(config)
    assert f"subject 10002 (split train): no {label_path(root, 10002)}: its large-vessel label" in str(
        err.value
    )


def test_maps_missing_folder_names_it(tmp_path):
    """An experiment reads a map folder the copy lacks (config.yaml's direct_ce reads
    OCTA(FULL)); and a copy without its label folder."""
    root = maps_copy(tmp_path)
    config = make_config(root, source="maps", experiments={**MAPS_EXPERIMENTS, "direct_ce": None})
    folder = re.escape(str(root / "OCTA_6mm" / "Projection Maps" / "OCTA(FULL)"))
    expected = rf"{folder}: expected the OCTA-500 folder of OCTA\(FULL\) projection maps"
    expected += rf", which experiment\(s\) direct_ce read \(data_root={root}, fov=6mm\)"
    with pytest.raises(FileNotFoundError, match=expected):
        splits(config)
    for i in IDS:
        label_path(root, i).unlink()
    label_path(root, 0).parent.rmdir()
    config = make_config(root, source="maps", experiments=MAPS_EXPERIMENTS)
    with pytest.raises(
        FileNotFoundError, match=r"Label/GT_LargeVessel: expected OCTA-500's large-vessel labels"
    ):
        splits(config)


def test_maps_misnamed_file_is_an_error(tmp_path):
    root = maps_copy(tmp_path)
    write(map_path(root, "6mm", ILM, 10001).with_name("10001 copy.bmp"), image())
    config = make_config(root, source="maps", experiments=MAPS_EXPERIMENTS)
    with pytest.raises(ValueError, match=r"10001 copy\.bmp: expected the OCTA-500 folder of OCTA\(ILM_OPL\)"):
        splits(config)


def test_maps_of_another_fov_with_a_per_fov_split(tmp_path):
    """`fov: 3mm` switches the maps' folder and, with a split per fov, the split."""
    ids = range(10301, 10306)
    root = maps_copy(tmp_path, ids=ids, fov="3mm")
    maps_copy(root, ids=IDS)  # the 6mm maps and labels beside them
    per_fov = {"6mm": SPLIT, "3mm": {"train": "10301-10303", "val": "10304", "test": "10305"}}
    config = make_config(root, source="maps", fov="3mm", experiments=MAPS_EXPERIMENTS)
    config["split"] = per_fov
    assert splits(config) == {"train": [10301, 10302, 10303], "val": [10304], "test": [10305]}
    config["fov"] = "6mm"
    assert splits(config)["test"] == [10005, 10006]


# ----------------------------------------------------------------------------- split per fov


def test_split_per_fov():
    per_fov = {"6mm": SPLIT, "3mm": {"train": "1-3", "val": "4", "test": "5"}}
    assert split_ranges({"fov": "3mm", "split": per_fov})["train"] == "1-3"
    assert split_ranges({"fov": "6mm", "split": per_fov}) == SPLIT
    # both forms merged (config.yaml's per-fov split, a user's {train, val, test}): the direct one wins
    assert split_ranges({"fov": "3mm", "split": {**per_fov, **SPLIT}}) == SPLIT
    with pytest.raises(ValueError, match=r"split has no entry for fov 3mm \(it has one for: 6mm\)"):
        split_ranges({"fov": "3mm", "split": {"6mm": SPLIT}})
    with pytest.raises(ValueError, match=r"split: train, val given without test"):
        split_ranges({"fov": "6mm", "split": {"train": "1", "val": "2"}})


def test_config_yaml_holds_the_official_split_of_both_fovs():
    assert split_ranges({**BASE, "fov": "6mm"}) == {
        "train": "10001-10180",
        "val": "10181-10200",
        "test": "10201-10300",
    }
    assert split_ranges({**BASE, "fov": "3mm"}) == {
        "train": "10301-10440",
        "val": "10441-10450",
        "test": "10451-10500",
    }


# ----------------------------------------------------------------------------- folders


def test_folders_discovery(tmp_path):
    root = folders_copy(tmp_path, ids=[*IDS, 10200])  # 10200: in no split, ignored
    config = make_config(root, source="folders", experiments=FOLDER_EXPERIMENTS)
    layout = data_layout(config)
    assert splits(config, layout) == {"train": [10001, 10002, 10003], "val": [10004], "test": [10005, 10006]}
    assert layout.en_face("OCTA(FULL)", 10002) == root / "images" / "10002.png"
    assert layout.en_face(ILM, 10003) == root / "images" / "10003.tif"  # one image, whatever the channel
    assert layout.label(10001) == root / "labels" / "10001.bmp"
    assert layout.label(10002) == root / "labels" / "10002_label.png"
    for i in IDS:  # 8-bit BMP, PNG and TIFF read alike
        np.testing.assert_array_equal(read_image(layout.en_face("OCTA(FULL)", i)), image(i))
        assert read_image(layout.label(i)).max() == 255


def test_folders_duplicate_id_names_both_files(tmp_path):
    root = folders_copy(tmp_path)
    write(root / "labels" / "10001_label.png", label())  # beside 10001.bmp
    config = make_config(root, source="folders", experiments=FOLDER_EXPERIMENTS)
    with pytest.raises(
        ValueError, match=r"labels: two files for subject 10001: '10001\.bmp' and '10001_label\.png'"
    ):
        splits(config)


@pytest.mark.parametrize("name", ["scan_7.png", "10001.txt", "patient"])
def test_folders_unexpected_name_is_an_error(tmp_path, name):
    root = folders_copy(tmp_path)
    if name == "patient":
        (root / "images" / name).mkdir()
    elif name.endswith(".png"):
        write(root / "images" / name, image())
    else:
        (root / "images" / name).write_text("")
    config = make_config(root, source="folders", experiments=FOLDER_EXPERIMENTS)
    with pytest.raises(
        ValueError, match=rf"images/{name}: expected the folder of en-face images, image files named"
    ):
        splits(config)


def test_folders_missing_image_or_label_names_the_file(tmp_path):
    root = folders_copy(tmp_path)
    (root / "images" / "10004.bmp").unlink()
    (root / "labels" / "10006.png").unlink()
    config = make_config(root, source="folders", experiments=FOLDER_EXPERIMENTS)
    with pytest.raises(ValueError, match=r"2 file\(s\) missing") as err:
        splits(config)
    message = str(err.value)
    assert (
        f"subject 10004 (split val): no image in {root / 'images'} named 10004<...>.png|bmp|tif|tiff"
        in message
    )
    assert f"(its label is {root / 'labels' / '10004.bmp'})" in message
    assert f"subject 10006 (split test): no label in {root / 'labels'} named 10006" in message
    assert f"(its image is {root / 'images' / '10006.tif'})" in message


def test_folders_missing_folder_names_it(tmp_path):
    write(tmp_path / "labels" / "10001.png", label())
    config = make_config(tmp_path, source="folders", experiments=FOLDER_EXPERIMENTS)
    with pytest.raises(
        FileNotFoundError, match=rf"{re.escape(str(tmp_path / 'images'))}: expected the folder of en-face"
    ):
        splits(config)


@pytest.mark.parametrize(
    ("experiments", "message"),
    [
        (
            {"ipn": False},
            r"experiments\.equalized_ce: source is folders .* found input: equalized; "
            r"disable it with 'equalized_ce: false'",
        ),
        (
            {"equalized_ce": False},
            r"experiments\.ipn: source is folders .* found input: volume; disable it with 'ipn: false'",
        ),
        (
            {**FOLDER_EXPERIMENTS, "two": {"channels": ["OCTA(FULL)", ILM]}},
            r"experiments\.two: source is folders \(one image per subject\), so the experiment "
            r"reads one channel, found 2: OCTA\(FULL\), OCTA\(ILM_OPL\); disable it with 'two: false'",
        ),
        (
            {**FOLDER_EXPERIMENTS, "projected": {"channels_from": "volumes"}},
            r"experiments\.projected: source is folders .* found channels_from: volumes",
        ),
    ],
    ids=["equalized", "volume", "two channels", "from volumes"],
)
def test_folders_refuse_experiments_they_cannot_feed(tmp_path, experiments, message):
    with pytest.raises(ValueError, match=message):
        make_config(tmp_path, source="folders", experiments=experiments)


def test_folders_need_a_data_root():
    config = make_config(None, source="folders", experiments=FOLDER_EXPERIMENTS)
    with pytest.raises(ValueError, match="source: folders reads <data_root>/images and <data_root>/labels"):
        data_layout(config)


# ----------------------------------------------------------------------------- the workflow


def _dry_run(work: Path, config_text: str):
    config = work / "data.yaml"
    config.write_text(config_text)
    done = snakemake(work, "--dry-run", configs=(config,))
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


@pytest.mark.workflow
def test_dry_runs_of_a_maps_only_copy_and_a_folder_pair(tmp_path):
    """Both copies build the whole DAG: one train job per experiment reading the split
    subjects' files, one predict job per experiment and test subject, and nothing
    ingested or projected."""
    split = "split: {train: 10001-10003, val: 10004, test: 10005-10006}\n"
    off = "two_channels: false, ipn: false, equalized_ce: false"
    maps = maps_copy(tmp_path / "maps")
    (tmp_path / "work_maps").mkdir()
    out = _dry_run(
        tmp_path / "work_maps",
        f"data_root: {maps}\nsource: maps\n{split}"
        f"experiments: {{{off}, direct_ce: false, direct_iou: false, maps_ce: false}}\n",
    )
    jobs = job_counts(out)
    assert jobs["train"] == 1 and jobs["predict"] == 1 and jobs["orientation"] == 6 and jobs["baseline"] == 2
    assert not {"ingest", "project", "synthesize", "surfaces", "realism"} & set(jobs)
    assert re.search(r"^\s+wildcards: exp=ilm_opl_ce$", out, re.M) and "OCTA(FULL)" not in out
    for i in IDS:
        assert f"Projection Maps/OCTA(ILM_OPL)/{i}.bmp" in out and f"GT_LargeVessel/{i}.bmp" in out

    pair = folders_copy(tmp_path / "pair")
    (tmp_path / "work_pair").mkdir()
    out = _dry_run(
        tmp_path / "work_pair", f"data_root: {pair}\nsource: folders\n{split}experiments: {{{off}}}\n"
    )
    jobs = job_counts(out)
    experiments = ["direct_ce", "direct_iou", "ilm_opl_ce", "maps_ce"]
    assert jobs["train"] == len(experiments) and jobs["predict"] == len(experiments)
    assert jobs["orientation"] == 6 and jobs["baseline"] == 2
    assert not {"ingest", "project", "synthesize", "surfaces", "realism"} & set(jobs)
    for name in ["images/10001.bmp", "images/10002.png", "images/10003.tif", "labels/10002_label.png"]:
        assert str(pair / name) in out


def vessels(seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """An image whose bright vessels are its label's, in a pattern no flip or turn maps
    onto itself (so the orientation guard can tell identity from the rest)."""
    truth = np.zeros((size, size), np.uint8)
    truth[:, size // 3 : size // 3 + 4] = 255
    truth[size // 5 : size // 5 + 4, : size // 2] = 255
    noise = np.random.default_rng(seed).normal(60, 20, (size, size))
    return np.clip(noise + 0.6 * truth, 0, 255).astype(np.uint8), truth


@pytest.mark.workflow
def test_real_runs_of_a_maps_only_copy_and_a_folder_pair(tmp_path):
    """Not just the DAG: both copies run to the end (orientation guard, training,
    prediction, baseline, evaluation, figures) and score their test subjects."""
    split = "split: {train: 10001-10003, val: 10004, test: 10005-10006}\n"
    only = "experiments: {direct_ce: false, direct_iou: false, equalized_ce: false, maps_ce: false, "
    only += "two_channels: false, ipn: false%s}\n"
    for i in IDS:
        pixels, truth = vessels(i)
        write(map_path(tmp_path / "maps", "6mm", ILM, i), pixels)
        write(label_path(tmp_path / "maps", i), truth)
        write(tmp_path / "pair" / "images" / f"{i}.png", pixels)
        write(tmp_path / "pair" / "labels" / f"{i}_label.bmp", truth)
    copies = {
        "maps": f"source: maps\n{only % ''}",  # ilm_opl_ce reads OCTA(ILM_OPL)
        "pair": f"source: folders\n{only % ', ilm_opl_ce: false, pair_ce: {loss: ce}'}",
    }
    for name, settings in copies.items():
        work = tmp_path / f"work_{name}"
        work.mkdir()
        config = work / "data.yaml"
        config.write_text(f"data_root: {tmp_path / name}\n{split}{settings}")
        done = snakemake(work, configs=(config,), timeout=1200)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        summary = (work / "results" / "summary.csv").read_text()
        exp = "ilm_opl_ce" if name == "maps" else "pair_ce"
        assert [line.split(",")[0] for line in summary.splitlines()[1:]] == [exp, "frangi_otsu"]
        for i in (10005, 10006):
            assert read_image(work / "results" / exp / "masks" / f"{i}.png").shape == (64, 64)
            assert (work / "results" / exp / "figures" / f"{i}.png").is_file()
