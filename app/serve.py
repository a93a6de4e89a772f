"""Process management for ``unilabel serve`` / ``unilabel worker`` (outer layer).

``run_server`` runs uvicorn in this process and, optionally, a Celery worker as a child process on
the configured broker (serverless SQLite by default). uvicorn shuts down gracefully on SIGINT or
SIGTERM; then the worker gets SIGTERM (Celery's warm shutdown: the running task finishes) and is
killed only if it does not stop in time. The worker is started *by module name*, so ``app`` never
imports ``worker`` (nor torch).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from app.config import Settings

WORKER_APP = "worker.celery_app"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WORKER_STOP_TIMEOUT_S = 15.0


def login_url(host: str, port: int, token: str) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/login/token?token={token}"


def worker_command(
    settings: Settings, *, loglevel: str = "info", queues: str | None = None, hostname: str = "unilabel@%h"
) -> list[str]:
    """The command line of a Celery worker process (solo pool: one task at a time)."""
    cmd = [
        sys.executable, "-m", "celery", "-A", WORKER_APP, "worker",
        "--pool=solo", "--concurrency=1", f"--loglevel={loglevel}",
        "--without-gossip", "--without-mingle", f"--hostname={hostname}",
    ]  # fmt: skip
    if queues:
        cmd.append(f"--queues={queues}")
    return cmd


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment for a worker: the parent's, with the resolved (absolute) locations."""
    env = dict(os.environ)
    env["UNILABEL_DATABASE_URL"] = settings.database_url
    env["UNILABEL_BROKER_URL"] = settings.broker_url
    env["UNILABEL_DATA_DIR"] = str(settings.data_dir)
    return env


class _Shutdown(Exception):
    """Raised by the signal handlers after uvicorn's graceful shutdown."""


def _raise_shutdown(signum: int, _frame: Any) -> None:
    raise _Shutdown(signum)


def run_server(
    settings: Settings, *, host: str, port: int, with_worker: bool, echo: Callable[[str], Any] = print
) -> None:
    """Serve the web app until SIGINT/SIGTERM; start and stop an embedded worker around it."""
    worker_proc = None
    if with_worker:
        worker_proc = subprocess.Popen(worker_command(settings), env=worker_env(settings))
        echo(f"embedded worker started (pid {worker_proc.pid}, broker {settings.broker_url})")
    # uvicorn re-raises the signal after its graceful shutdown; these handlers turn that into an
    # exception, so the worker is stopped below and the exit status is 0.
    previous = {sig: signal.signal(sig, _raise_shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _run_uvicorn(settings, host, port)
    except _Shutdown:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if worker_proc is not None:
            stop_process(worker_proc)
            echo("embedded worker stopped")


def _run_uvicorn(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from app.web.main import create_app

    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True)
    uvicorn.Server(config).run()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = WORKER_STOP_TIMEOUT_S) -> None:
    """SIGTERM (warm shutdown), then SIGKILL when ``proc`` does not exit within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
