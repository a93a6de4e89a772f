"""A real ``celery worker`` subprocess for the tests whose jobs must run (tests/jobs, the e2e servers).

* :func:`start_worker` starts one solo-pool worker of ``worker.celery_app`` in its own process
  group, its output appended to a log file; the caller's ``env`` carries the ``UNILABEL_*``
  settings (database, broker, job timings) and the thread counts.
* :func:`wait_ready` waits until that log says the worker is ready (its start-up recovery done).
* :func:`stop_worker` SIGKILLs the worker's whole group: tests need no graceful shutdown.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def start_worker(
    log: Path, env: Mapping[str, str], *, hostname: str, queues: str | None = None
) -> subprocess.Popen[bytes]:
    """One worker named ``hostname`` (e.g. ``w1@%h``) with exactly ``env``, consuming ``queues``
    (comma-separated; None: the default queue)."""
    cmd = [
        sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool=solo",
        f"--hostname={hostname}", "--loglevel=warning", "--without-gossip", "--without-mingle",
        "--without-heartbeat",
    ]  # fmt: skip
    if queues:
        cmd.append(f"--queues={queues}")
    return subprocess.Popen(
        cmd,
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_ready(log: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Until ``log`` says the worker is ready; AssertionError with the log's tail when it exits or
    ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and "ready on" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    text = log.read_text(errors="replace")[-3000:] if log.is_file() else ""
    raise AssertionError(f"the worker did not get ready:\n{text}")


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker's process group (no clean-up of any kind runs) and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
