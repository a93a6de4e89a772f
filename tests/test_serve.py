"""Smoke test: ``unilabel serve`` starts with its embedded worker, answers, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _collect(proc: subprocess.Popen[str], lines: list[str]) -> threading.Thread:
    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def _wait_healthy(
    url: str, proc: subprocess.Popen[str], lines: list[str], timeout: float = 60
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited early with {proc.returncode}: {''.join(lines)}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail("serve did not answer in time")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_starts_answers_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    env.update(
        UNILABEL_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        UNILABEL_BROKER_URL=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        UNILABEL_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = _collect(proc, lines)
    try:
        health = _wait_healthy(f"http://127.0.0.1:{port}/api/v1/health", proc, lines)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        match = re.search(r"(http://127\.0\.0\.1:\d+/login/token\?token=\S+)", "".join(lines))
        assert match, "".join(lines)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            assert client.get("/api/v1/users/me").status_code == 401
            assert client.get(match.group(1)).status_code == 303  # logged in, redirected home
            assert client.get("/api/v1/users/me").json()["name"] == "admin"
        # A task sent by name through the serverless broker reaches the embedded worker.
        from app.config import load_settings
        from app.queue import TASK_PING, make_celery

        make_celery(load_settings(broker_url=env["UNILABEL_BROKER_URL"])).send_task(TASK_PING)
        assert _wait_for(lambda: any("succeeded" in line and TASK_PING in line for line in lines), 150), (
            "".join(lines)
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"serve did not stop on SIGTERM:\n{''.join(lines)}")
        reader.join(timeout=5)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "embedded worker stopped" in output
