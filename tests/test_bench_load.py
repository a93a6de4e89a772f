"""Smoke run of ``benchmarks/bench_load.py`` (5 clients x 3 s, SQLite) so that the script cannot rot.

It checks the script's contract, not the figures: both phases ran against a real ``unilabel serve``,
every request was answered with 200, a job was running during the ``job`` phase, and the server's
pool had its connections back afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_load_benchmark_smoke_run() -> None:
    cmd = [
        sys.executable,
        "benchmarks/bench_load.py",
        "--clients", "5", "--duration", "3", "--think", "0.2", "--backends", "sqlite", "--images", "6",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=580)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    [result] = report["results"]
    assert result["backend"] == "sqlite"
    idle, job = result["phases"]
    assert (idle["phase"], job["phase"]) == ("idle", "job")
    for phase in (idle, job):
        assert phase["requests"] > 5 and phase["errors"] == 0, phase
        assert phase["client_ms"]["p99"] is not None and phase["server_ms"]["p50"] is not None
        # Only the health check's own connection is out once the load has stopped.
        assert phase["pool_after"]["checked_out"] <= 1, phase["pool_after"]
    assert job["job"]["submitted"] >= 1 and job["job"]["running_s"] > 0, job["job"]
    assert "| sqlite | idle |" in done.stderr and "| sqlite | job |" in done.stderr
