"""The repository stays clean under its linters: ruff, snakefmt and snakemake --lint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "check", [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("snakefmt", "--check", ".")]
)
def test_linters_clean(check):
    done = run(*check)
    assert done.returncode == 0, done.stdout + done.stderr


def test_snakemake_lint_clean():
    done = run("snakemake", "--lint")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Lints for" not in done.stdout + done.stderr, done.stdout + done.stderr
