from __future__ import annotations

import pytest

from octaseg.config import experiment_settings
from octaseg.layout import assign_splits, discover_subjects, parse_ids


def test_parse_ids():
    assert parse_ids("10001-10003,10007") == [10001, 10002, 10003, 10007]
    assert parse_ids(["10005", 10001, "10002-10003"]) == [10001, 10002, 10003, 10005]
    assert parse_ids(10001) == [10001]
    with pytest.raises(ValueError, match="'10x'"):
        parse_ids("10x")
    with pytest.raises(ValueError, match="end is before the start"):
        parse_ids("10005-10001")


def test_split_overlap_is_an_error():
    with pytest.raises(ValueError, match="subject 10004 is in both split 'train' and split 'val'"):
        assign_splits({"train": "10001-10004", "val": "10004-10005", "test": "10006"})


def test_split_keeps_available():
    assert assign_splits({"train": "1-5", "val": "6", "test": "7"}, [2, 3, 6, 7, 9]) == {
        "train": [2, 3],
        "val": [6],
        "test": [7],
    }


def test_discover(tmp_path):
    base = tmp_path / "OCTA_6mm" / "OCTA"
    for name in ["10002", "10001", ".hidden"]:
        (base / name).mkdir(parents=True)
    assert discover_subjects(tmp_path, "6mm") == [10001, 10002]
    (base / "patient7").mkdir()
    with pytest.raises(ValueError, match="patient7"):
        discover_subjects(tmp_path, "6mm")
    with pytest.raises(FileNotFoundError, match="OCTA_3mm"):
        discover_subjects(tmp_path, "3mm")


def test_experiment_settings_merge():
    config = {
        "train_defaults": {"lr": 0.1, "model": {"name": "unet", "base": 16}, "loss": {"ce": 1.0}},
        "experiments": {
            "a": {"model": {"base": 64}, "loss": "dice"},
            "b": None,
            "ipn": {"model": {"name": "ipn", "channels": 8}},
        },
    }
    a = experiment_settings(config, "a")
    assert a == {"lr": 0.1, "model": {"name": "unet", "base": 64}, "loss": "dice"}
    assert experiment_settings(config, "b") == config["train_defaults"]
    assert experiment_settings(config, "ipn")["model"] == {"name": "ipn", "channels": 8}
    assert config["train_defaults"]["model"]["base"] == 16  # defaults untouched
    with pytest.raises(KeyError, match="'c'"):
        experiment_settings(config, "c")
