"""Few labels: the training subjects train_subjects picks (first N, a seeded sample), a bad
N refused, and the learning curve's table and figure."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from octaseg.config import experiment_settings, train_subjects, training_settings
from octaseg.few_labels import COLUMNS, curve_table, start_name
from octaseg.viz import subjects_curve

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


def test_learning_curve_table_and_figure(tmp_path):
    points, metrics, benchmarks = [], [], []
    for i, (start, n) in enumerate([("runs/3mm/best.pt", 2), ("shipped", 5), ("scratch", 5), ("scratch", 2)]):
        metrics.append(tmp_path / f"{i}.csv")
        metrics[-1].write_text(f"subject,dice\n10181,{0.5 + 0.05 * n:.2f}\n10182,{0.6 + 0.05 * n:.2f}\n")
        benchmarks.append(tmp_path / f"{i}.tsv")
        benchmarks[-1].write_text(f"s\th:m:s\tmax_rss\n{60 * n}\t0:01:00\t1\n")
        points.append({"experiment": f"e{i}", "start": start, "n": n})
    table = curve_table(points, metrics, benchmarks)
    assert list(table.columns) == COLUMNS
    assert list(table["experiment"]) == ["e3", "e2", "e1", "e0"]  # scratch, shipped, checkpoints; by n
    row = table.iloc[0]
    assert (row["start"], row["n"], row["train_minutes"]) == ("scratch", 2, 2.0)
    assert row["dice_mean"] == pytest.approx(0.65)
    assert row["dice_sd"] == pytest.approx(np.std([0.6, 0.7], ddof=1))
    assert [start_name(None), start_name("shipped"), start_name("a/b.pt")] == ["scratch", "shipped", "a/b.pt"]

    subjects_curve(tmp_path / "curve.png", table.to_dict("records"))
    image = cv2.imread(str(tmp_path / "curve.png"))
    assert image is not None and image.shape[0] > 300 and image.std() > 10
    (tmp_path / "bad.tsv").write_text("seconds\n1\n")
    with pytest.raises(Exception, match=r"bad\.tsv: expected a column 's'"):
        curve_table(points[:1], metrics[:1], [tmp_path / "bad.tsv"])
