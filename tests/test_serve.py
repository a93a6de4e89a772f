"""Smoke tests: ``unilabel serve`` (one or several web processes) starts with its embedded worker,
prints the one-time login URL last, answers, and stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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
    url: str, proc: subprocess.Popen[str], lines: list[str], timeout: float = 120
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited early with {proc.returncode}: {''.join(lines)}")
        try:
            return httpx.get(url, timeout=10)
        except httpx.TransportError:
            time.sleep(0.3)
    pytest.fail("serve did not answer in time")


def _startup_output(proc: subprocess.Popen[str], lines: list[str], timeout: float = 180) -> str:
    """The output once the login URL is printed and whatever start-up output was still coming has
    arrived (3 s later); nothing is requested from the server before, so nothing it logs for a
    request can follow the URL."""
    deadline = time.monotonic() + timeout
    while "login/token" not in "".join(lines) and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited early with {proc.returncode}: {''.join(lines)}")
        time.sleep(0.2)
    time.sleep(3)
    return "".join(lines)


def _assert_login_url_printed_last(output: str) -> None:
    """After the web start-up log *and* the embedded worker's banner and ready line (issue 11: the
    worker banner pushed the URL up), and nothing after it."""
    assert "login/token" in output, output
    url_at = output.rindex("login/token")
    assert "celery@" in output or "[config]" in output, output  # the worker's banner was shown
    for marker in ("Application startup complete", "embedded worker started", "unilabel worker", " ready."):
        assert marker in output and output.rindex(marker) < url_at, f"{marker!r} after the URL:\n{output}"
    tail = output[url_at:].splitlines()[1:]
    assert [line for line in tail if line.strip()] == [], f"printed after the URL:\n{output}"


def _stop(proc: subprocess.Popen[str], reader: threading.Thread, lines: list[str], *, timeout: float) -> None:
    """SIGTERM ``unilabel serve`` and wait for it; a server that does not stop fails the test."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"serve did not stop on SIGTERM:\n{''.join(lines)}")
    reader.join(timeout=5)


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
        # Printed once the server answers, so it is the last line of the start-up output.
        _assert_login_url_printed_last(_startup_output(proc, lines))
        health = _wait_healthy(f"http://127.0.0.1:{port}/api/v1/health", proc, lines)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        match = re.search(r"(http://127\.0\.0\.1:\d+/login/token\?token=\S+)", "".join(lines))
        assert match, "".join(lines)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
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
        _stop(proc, reader, lines, timeout=40)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert "embedded worker stopped" in output


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_serve_with_two_workers_answers_from_two_processes(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ)
    env.pop("UNILABEL_SECRET_KEY", None)  # generated under var/: every process must use the same one
    env.update(
        UNILABEL_DATABASE_URL=f"sqlite:///{tmp_path / 'var' / 'serve.db'}",
        UNILABEL_BROKER_URL=f"sqla+sqlite:///{tmp_path / 'var' / 'broker.sqlite'}",
        UNILABEL_DATA_DIR=str(tmp_path / "var" / "data"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    reader = _collect(proc, lines)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(f"{base}/api/v1/health", proc, lines)
        assert _wait_for(lambda: "login/token" in "".join(lines), 30), "".join(lines)
        match = re.search(r"(http://127\.0\.0\.1:\d+/login/token\?token=\S+)", "".join(lines))
        assert match, "".join(lines)
        pids: set[int] = set()
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, limits=limits, timeout=30) as browser:
            assert browser.get(match.group(1)).status_code == 303
            for _ in range(20):  # new connections, several at once: the kernel spreads them
                with ThreadPoolExecutor(8) as pool:
                    healths = list(pool.map(lambda _: browser.get("/api/v1/health"), range(16)))
                    mes = list(pool.map(lambda _: browser.get("/api/v1/users/me"), range(16)))
                assert all(r.status_code == 200 for r in healths)
                # The session cookie signed by one process is accepted by every process.
                assert [r.status_code for r in mes] == [200] * 16
                pids |= {r.json()["pid"] for r in healths}
                if len(pids) == 2:
                    break
        assert len(pids) == 2 and proc.pid not in pids, pids
    finally:
        _stop(proc, reader, lines, timeout=60)
    output = "".join(lines)
    assert proc.returncode == 0, output
    assert output.count("embedded worker started") == 1 and "embedded worker stopped" in output
    # The login URL comes after the start-up log of the web processes.
    assert output.rindex("login/token") > output.index("Application startup complete"), output
