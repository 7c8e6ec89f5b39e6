"""Learning curves of the training-set size: test Dice against the number of training
subjects, for the experiments that set ``train_subjects``, one line per start
(``init_from``): from scratch, from the shipped model, or from a checkpoint.

:func:`curve_table` gathers each experiment's point (its start, its number of training
subjects, the mean and standard deviation of its test Dice, and its training time from the
train rule's benchmark file); :func:`octaseg.viz.subjects_curve` draws it. Pandas is
imported where it is used: the workflow calls :func:`start_name` while it parses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octaseg.finetune import SHIPPED
from octaseg.io import InputError

if TYPE_CHECKING:
    import pandas as pd

#: The columns of the learning-curve table, in order.
COLUMNS = ["experiment", "start", "n", "dice_mean", "dice_sd", "train_minutes"]
#: What a training from random weights is called in the table and the figure.
SCRATCH = "scratch"


def start_name(init_from: str | None) -> str:
    """How a start is called in the learning curve: ``scratch`` (init_from null),
    ``shipped``, or the checkpoint's path as configured."""
    if init_from is None:
        return SCRATCH
    return SHIPPED if init_from == SHIPPED else str(init_from)


def _column(path: str | Path, name: str, sep: str = ",") -> pd.Series:
    """Column ``name`` of a CSV (``sep="\\t"``: TSV) file; an InputError naming the file
    and the columns it has when that one is not among them."""
    import pandas as pd

    table = pd.read_csv(path, sep=sep)
    if name not in table.columns or table.empty:
        found = list(table.columns)
        raise InputError(f"{path}: expected a column {name!r} with values, found columns {found}")
    return table[name]


def curve_table(
    points: Sequence[Mapping[str, Any]],
    metrics: Sequence[str | Path],
    benchmarks: Sequence[str | Path],
) -> pd.DataFrame:
    """One row per experiment (:data:`COLUMNS`): ``points`` give each one's
    ``experiment``, ``start`` (:func:`start_name`) and ``n`` (its training subjects);
    ``metrics`` its test metrics.csv (column ``dice``, one row per test subject: their
    mean and standard deviation, empty for one subject) and ``benchmarks`` the train
    rule's benchmark file (column ``s``: the training's wall-clock seconds, in minutes),
    in the same order. Sorted by start (scratch, shipped, then checkpoints by name) and n."""
    import pandas as pd

    rows = []
    for point, metrics_csv, benchmark in zip(points, metrics, benchmarks, strict=True):
        dice = _column(metrics_csv, "dice").astype(float)
        seconds = _column(benchmark, "s", sep="\t").astype(float)
        rows.append(
            {
                "experiment": point["experiment"],
                "start": point["start"],
                "n": int(point["n"]),
                "dice_mean": float(dice.mean()),
                "dice_sd": float(dice.std()) if len(dice) > 1 else float("nan"),
                "train_minutes": float(seconds.mean()) / 60,
            }
        )
    table = pd.DataFrame(rows, columns=COLUMNS)
    rank = table["start"].map({SCRATCH: 0, SHIPPED: 1}).fillna(2)
    order = table.assign(rank=rank).sort_values(["rank", "start", "n"], kind="stable").index
    return table.loc[order].reset_index(drop=True)
