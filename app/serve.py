"""Process management for ``unilabel serve`` / ``unilabel worker`` (outer layer).

``run_server`` runs uvicorn in this process (``workers=1``) or as a supervisor of ``workers`` uvicorn
processes sharing one socket, and, optionally, *one* Celery worker as a child process on the
configured broker (serverless SQLite by default). uvicorn shuts down gracefully on SIGINT or
SIGTERM; then the worker gets SIGTERM (Celery's warm shutdown: the running task finishes) and is
killed only if it does not stop in time. The worker is started *by module name*, so ``app`` never
imports ``worker`` (nor torch).

Several web processes share everything through the database and the settings: each builds its app
with ``create_app()`` from the environment, which ``run_server`` fills with the resolved settings,
the secret key included (so a session cookie signed by one process is valid in all of them).
Each process has its own connection pool of ``db_pool_size + db_max_overflow`` connections.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import Settings

WORKER_APP = "worker.celery_app"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WORKER_STOP_TIMEOUT_S = 15.0
READY_TIMEOUT_S = 120.0
# The embedded worker writes this file once it is ready (worker.signals.on_worker_ready), after its
# start-up banner and log: the login URL waits for it, so that the URL is the last thing printed.
WORKER_READY_ENV = "UNILABEL_WORKER_READY_FILE"
AFTER_WORKER_READY_S = 0.5  # Celery logs "<name> ready." just after the signal that writes the file
APP_FACTORY = "app.web.main:create_app"


SERVED_URL_FILE = "served_url"


def base_url(host: str, port: int) -> str:
    """The address a browser on this machine opens for a server bound to ``host:port``."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def login_url(host: str, port: int, token: str) -> str:
    return login_url_at(base_url(host, port), token)


def login_url_at(base: str, token: str) -> str:
    """``base`` (``UNILABEL_PUBLIC_URL`` or the served address) + the one-time login path."""
    return f"{base.rstrip('/')}/login/token?token={token}"


def record_served_url(settings: Settings, host: str, port: int) -> None:
    """Remember where ``serve`` listens, so ``unilabel user login-url`` prints a URL that works."""
    path = settings.data_dir / SERVED_URL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base_url(host, port) + "\n", encoding="utf-8")


def public_base_url(settings: Settings) -> str:
    """``UNILABEL_PUBLIC_URL``, else the address the last ``serve`` recorded, else the default one."""
    if settings.public_url:
        return settings.public_url
    recorded = settings.data_dir / SERVED_URL_FILE
    if recorded.is_file():
        text = recorded.read_text(encoding="utf-8").strip()
        if text.startswith(("http://", "https://")):
            return text
    return base_url("127.0.0.1", 8000)


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


def web_env(settings: Settings) -> dict[str, str]:
    """The environment of the web worker processes: the worker's, plus the resolved secret key."""
    env = worker_env(settings)
    env["UNILABEL_SECRET_KEY"] = settings.resolved_secret_key()
    return env


def run_server(
    settings: Settings,
    *,
    host: str,
    port: int,
    with_worker: bool,
    workers: int = 1,
    echo: Callable[[str], Any] = print,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve the web app until SIGINT/SIGTERM; start and stop an embedded worker around it.

    ``workers`` > 1 runs that many uvicorn processes (uvicorn's supervisor); the embedded Celery
    worker is still started once, here. ``on_ready`` runs once the server answers its health check.
    """
    worker_proc = None
    ready_file = None
    if with_worker:
        env = worker_env(settings)
        ready_file = settings.data_dir / f"worker-ready-{os.getpid()}"
        ready_file.unlink(missing_ok=True)
        env[WORKER_READY_ENV] = str(ready_file)
        worker_proc = subprocess.Popen(worker_command(settings), env=env)
        echo(f"embedded worker started (pid {worker_proc.pid}, broker {settings.broker_url})")
    if on_ready is not None:
        _call_when_ready(host, port, on_ready, worker=worker_proc, worker_ready_file=ready_file)
    # uvicorn re-raises the signal after its graceful shutdown; these handlers turn that into an
    # exception, so the worker is stopped below and the exit status is 0.
    previous = {sig: signal.signal(sig, _raise_shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _run_uvicorn(settings, host, port, workers)
    except _Shutdown:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if worker_proc is not None:
            stop_process(worker_proc)
            echo("embedded worker stopped")
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)


def _run_uvicorn(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    if workers > 1:
        # Worker processes are spawned and build their app from the environment.
        os.environ.update(web_env(settings))
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            proxy_headers=True,
        )
        return
    from app.web.main import create_app

    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="info", proxy_headers=True)
    uvicorn.Server(config).run()


def _call_when_ready(
    host: str,
    port: int,
    callback: Callable[[], None],
    *,
    worker: subprocess.Popen[bytes] | None = None,
    worker_ready_file: Path | None = None,
) -> None:
    """Run ``callback`` in a thread once ``/api/v1/health`` answers and, with an embedded
    ``worker``, once it has written ``worker_ready_file`` (or exited); gives up after a while."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}/api/v1/health"

    def wait() -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:  # not listening yet, or 503 while the database is unreachable
                time.sleep(0.2)
        else:
            return
        if worker is not None and worker_ready_file is not None:
            while time.monotonic() < deadline and worker.poll() is None and not worker_ready_file.exists():
                time.sleep(0.2)
            time.sleep(AFTER_WORKER_READY_S)
        callback()

    threading.Thread(target=wait, name="announce-when-ready", daemon=True).start()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = WORKER_STOP_TIMEOUT_S) -> None:
    """SIGTERM (warm shutdown), then SIGKILL when ``proc`` does not exit within ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
