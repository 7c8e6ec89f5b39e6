"""Few labels: the training subjects train_subjects picks (first N, a seeded sample), and a
bad N refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from octaseg.config import experiment_settings, train_subjects, training_settings

REPO = Path(__file__).resolve().parents[1]
SPLIT = [10007, 10003, 10001, 10002, 10005, 10004, 10006, 10008]


def _config(**experiments) -> dict:
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["experiments"] = experiments
    return config


def test_train_subjects_first_n_and_seeded_sample():
    config = _config(
        all=None, first=dict(train_subjects=3), a=dict(train_subjects={"n": 3, "seed": 1}),
        b=dict(train_subjects={"n": 5, "seed": 1}), c=dict(train_subjects={"n": 3, "seed": 2}),
    )  # fmt: skip
    assert train_subjects(config, "all", SPLIT) == sorted(SPLIT)
    assert train_subjects(config, "first", SPLIT) == [10001, 10002, 10003]
    a, b, c = (train_subjects(config, name, SPLIT) for name in "abc")
    # the same draw on every machine: the split ordered by the SHA-256 of "seed:id"
    assert a == [10003, 10006, 10008] and c == [10001, 10002, 10004]
    assert a == train_subjects(config, "a", list(reversed(SPLIT)))  # whatever the split's order
    assert set(a) <= set(b) and len(b) == 5  # one seed's samples nest
    # at their defaults the new settings stay out of the settings (no rule's params change)
    new = {"init_from", "freeze_encoder_epochs", "train_subjects"}
    assert not new & set(training_settings(config, "all"))
    assert experiment_settings(config, "first")["train_subjects"] == 3


@pytest.mark.parametrize("n", [0, 9, {"n": 9, "seed": 0}])
def test_a_bad_number_of_training_subjects_is_refused(n):
    config = _config(few=dict(train_subjects=n))
    with pytest.raises(ValueError) as err:
        train_subjects(config, "few", SPLIT)
    count = n["n"] if isinstance(n, dict) else n
    assert f"experiments.few: train_subjects: {n} asks for {count} training subject(s)" in str(err.value)
    assert "the train split has 8 (10001-10008)" in str(err.value)
