"""The repository stays clean under its linters: ruff, snakefmt and snakemake --lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("tool", ["ruff", "snakefmt"])
def test_formatters_clean(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (pip install -e '.[test]')")
    checks = (
        [["ruff", "check", "."], ["ruff", "format", "--check", "."]]
        if tool == "ruff"
        else [["snakefmt", "--check", "."]]
    )
    for cmd in checks:
        done = run(*cmd)
        assert done.returncode == 0, done.stdout + done.stderr


def test_snakemake_lint_clean():
    done = run(sys.executable, "-m", "snakemake", "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr
