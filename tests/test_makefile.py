"""``make run`` says what it is doing during the minutes of installing and preparing, and ends with
``unilabel serve`` (whose login URL is then the last thing printed: tests/test_serve.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SLOW = ("-m venv", "pip install", "db upgrade", "demo load", "demo ml", "serve")


def _dry_run(target: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # Run as a top-level make even under `make test` (a nested make prints "Entering directory").
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "-B", target],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line.strip()]


def test_every_slow_step_of_make_run_is_announced_first() -> None:
    lines = _dry_run("run")
    for i, line in enumerate(lines):
        if any(step in line for step in SLOW) and not line.startswith("echo"):
            assert i > 0 and lines[i - 1].startswith('echo "==> '), f"no progress line before {line!r}"
    progress = [line for line in lines if line.startswith('echo "==> ')]
    assert len(progress) >= 7
    assert any("a few minutes" in line for line in progress)  # the long install says it is long


def test_make_run_ends_with_serve() -> None:
    assert "unilabel serve" in _dry_run("run")[-1]
