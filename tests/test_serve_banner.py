"""``unilabel serve`` prints the one-time login URL last: after the web start-up log *and* after the
embedded worker's banner and ready line (issue 11: the worker banner pushed the URL up)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_login_url_is_printed_after_the_worker_is_ready(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(
        UNILABEL_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        UNILABEL_BROKER_URL=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        UNILABEL_DATA_DIR=str(tmp_path / "data"),
        PYTHONUNBUFFERED="1",
    )
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(_free_port())]
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(iter(proc.stdout.readline, ""))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 180
        while "login/token" not in "".join(lines) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(3)  # whatever start-up output was still coming has arrived by now
        output = "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    assert "login/token" in output, output
    url_at = output.rindex("login/token")
    assert "celery@" in output or "[config]" in output, output  # the worker's banner was shown
    for marker in ("Application startup complete", "embedded worker started", "unilabel worker", " ready."):
        assert marker in output and output.rindex(marker) < url_at, f"{marker!r} after the URL:\n{output}"
    tail = output[url_at:].splitlines()[1:]
    assert [line for line in tail if line.strip()] == [], f"printed after the URL:\n{output}"
