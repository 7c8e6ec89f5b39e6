"""Statistics held to bands: a summary across subjects, and what falls outside a band.

Shared by the realism targets (:mod:`octaseg.realism`), the real label geometry
(:mod:`octaseg.vessel_geometry`), the real map appearance (:mod:`octaseg.map_appearance`)
and ``octaseg synth-report`` (:mod:`octaseg.synth_report`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

Band = tuple[float, float]  # (low, high), both inclusive


def table(text: str) -> dict[str, dict[str, Band]]:
    """Bands written as a text table: column name -> statistic -> (low, high).

    The first line is ``statistic`` and the column names (e.g. fields of view); then one
    line per statistic, its name and the low and high of each column in turn. Blank lines
    and ``#`` comments are passed over; numbers keep their type (``67`` an int, ``0.5`` a
    float), as written in Python.
    """
    rows = [line.split("#")[0].split() for line in text.splitlines()]
    header, *rows = [row for row in rows if row]
    columns = header[1:]
    out: dict[str, dict[str, Band]] = {column: {} for column in columns}
    for name, *values in rows:
        if len(values) != 2 * len(columns):
            raise ValueError(f"band table row {name!r}: expected {2 * len(columns)} numbers, got {values}")
        numbers = [int(v) if v.lstrip("-").isdigit() else float(v) for v in values]
        for i, column in enumerate(columns):
            out[column][name] = (numbers[2 * i], numbers[2 * i + 1])
    return out


def inside(value: float, band: Band) -> bool:
    """Whether ``value`` lies within ``band``; a NaN does not."""
    return band[0] <= value <= band[1]


def out_of_band(stats: Mapping[str, float], bands: Mapping[str, Band]) -> dict[str, float]:
    """The statistics of ``stats`` that have a band and lie outside it (a NaN does), with
    their values; statistics without a band are not judged."""
    return {k: v for k, v in stats.items() if k in bands and not inside(v, bands[k])}


def summarize(
    rows: Iterable[Mapping[str, float]], names: Iterable[str] | None = None
) -> dict[str, tuple[float, float, float]]:
    """(median, 5th, 95th percentile) across subjects of each statistic in ``names``
    (default: every one a row has, in first-seen order), over the rows that have it, NaNs
    left out; a statistic that is NaN in every row gets NaNs, one no row has is left out."""
    rows = list(rows)
    if names is None:
        names = dict.fromkeys(k for row in rows for k in row)
    out = {}
    for name in names:
        values = np.array([row[name] for row in rows if name in row], np.float64)
        if values.size:
            values = values[~np.isnan(values)]
            figures = np.percentile(values, [50, 5, 95]) if values.size else np.full(3, np.nan)
            out[name] = (float(figures[0]), float(figures[1]), float(figures[2]))
    return out
