"""Logging for workflow scripts: everything a job says goes to its Snakemake log file; on a
terminal, progress bars."""

from __future__ import annotations

import logging
import sys


def to_file(path: str) -> logging.Logger:
    """Send the logging module and stderr (tracebacks included) to ``path``."""
    stream = open(path, "w", buffering=1)  # noqa: SIM115 - lives as long as the job
    sys.stderr = stream
    logging.basicConfig(
        stream=stream, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", force=True
    )
    return logging.getLogger("octaseg")


def progress_bar(desc: str, total: int, done: int = 0):
    """A tqdm progress bar of ``total`` steps (``done`` of them already) on a terminal;
    None when stderr is not one, such as a job's log (plain lines there instead)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=desc, unit="batch", leave=False)
