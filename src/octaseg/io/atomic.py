"""Atomic writes: a file is written under a temporary name beside the target and renamed
into place only when it is complete, so an interrupted job never leaves a file that looks
done. Every writer of :mod:`octaseg.io` (and the figures of :mod:`octaseg.viz`) writes
through :func:`atomic_path`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from glob import escape as glob_escape
from pathlib import Path


def _tmp_sibling(path: Path) -> Path:
    # keep the suffix last: OpenCV picks the format from it
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Temporaries of ``path`` that a killed process left behind are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{glob_escape(path.stem)}.tmp*{glob_escape(path.suffix)}"):
        stale.unlink(missing_ok=True)
    tmp = _tmp_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
