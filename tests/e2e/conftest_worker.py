"""Browser-test server with a real worker: uvicorn + one ``celery worker`` subprocess (issue 12).

The conftest's ``live_server`` has no worker (its broker is in memory, so no job ever runs). A test
module that needs jobs to run overrides ``live_server`` with :func:`serve_with_worker`: the app under
uvicorn (background thread) and a Celery worker started as ``tests/jobs/conftest.py``'s
``JobEnv.start_worker`` does (:func:`tests.worker_process.start_worker`), both on one SQLite file
database and the serverless SQLite broker (``sqla+sqlite:///<tmp>/broker.sqlite``), configured
through the same ``UNILABEL_*`` variables.
:func:`seed_demo_experiment` registers the demo experiment's objects (``unilabel demo ml``) small.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings, load_settings
from app.db.migrate import upgrade_database
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.queue import get_celery
from app.services import users as user_service
from tests.e2e.conftest import PASSWORD, LiveServer, _free_port
from tests.worker_process import REPO_ROOT, start_worker, stop_worker, wait_ready

WORKER_USERS = (("erin", "editor"), ("rita", "reviewer"))
# The demo scenes, small: (H, W) and scenes per split (the full demo: 96 x 128, up to 32).
SCENE_SIZE = (48, 64)
SCENES_PER_SPLIT = 4
Seed = Callable[[sessionmaker[Session], Settings, Path], None]


@dataclass(frozen=True)
class WorkerLiveServer(LiveServer):
    """A live server whose jobs run: its settings, temporary folder and the worker's log."""

    settings: Any
    tmp: Path

    def worker_log(self, tail: int = 4000) -> str:
        log = self.tmp / "worker.log"
        return log.read_text(errors="replace")[-tail:] if log.is_file() else "(no worker log)"


def _env_vars(tmp: Path) -> dict[str, str]:
    # Job timings shorter than the defaults (a takeover or sweep does not stall the test), yet long
    # enough that a loaded 2-core machine's late heartbeat does not lose a lease.
    return {
        "UNILABEL_DATABASE_URL": f"sqlite:///{tmp / 'e2e.db'}",
        "UNILABEL_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        "UNILABEL_DATA_DIR": str(tmp / "data"),
        "UNILABEL_ALLOWED_DATA_ROOTS": str(tmp / "roots"),
        "UNILABEL_SECRET_KEY": "e2e-secret-key-0123456789abcdef",
        "UNILABEL_PUBLIC_READ": "false",
        "UNILABEL_JOB_LEASE_S": "30",
        "UNILABEL_JOB_HEARTBEAT_S": "1",
        "UNILABEL_JOB_SWEEP_S": "2",
        "UNILABEL_JOB_PROGRESS_S": "0.2",
        "UNILABEL_OUTBOX_POLL_S": "0.5",
    }


@contextlib.contextmanager
def serve_with_worker(tmp: Path, seed: Seed) -> Iterator[WorkerLiveServer]:
    """The app under uvicorn and one worker on ``tmp``'s database and broker, seeded by ``seed``.

    The ``UNILABEL_*`` variables are set in this process too (the web side's Celery client and
    ``get_settings()`` read them) and restored afterwards; the worker is killed with its group.
    """
    import uvicorn

    from app.web.main import create_app

    (tmp / "roots").mkdir(parents=True, exist_ok=True)
    env_vars = _env_vars(tmp)
    mp = pytest.MonkeyPatch()
    for key, value in env_vars.items():
        mp.setenv(key, value)
    get_settings.cache_clear()
    get_celery.cache_clear()
    upgrade_database(env_vars["UNILABEL_DATABASE_URL"])
    settings = load_settings()
    settings.ensure_dirs()
    engine = make_engine(env_vars["UNILABEL_DATABASE_URL"])
    factory = make_sessionmaker(engine)
    worker: subprocess.Popen[bytes] | None = None
    server: Any = None
    thread: threading.Thread | None = None
    try:
        # The worker first: its start-up (torch imports, recovery) is the slow part; seeding overlaps it.
        worker_env = dict(os.environ) | env_vars | {"PYTHONPATH": str(REPO_ROOT)}
        worker_env |= {"OMP_NUM_THREADS": "1", "UNILABEL_TORCH_THREADS": "1"}
        worker = start_worker(tmp / "worker.log", worker_env, hostname="e2e-worker@%h")
        seed(factory, settings, tmp)
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=_free_port(), log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_ready(tmp / "worker.log", worker, timeout=180)
        while not server.started:
            assert thread.is_alive(), "uvicorn did not start"
            time.sleep(0.05)
        yield WorkerLiveServer(f"http://127.0.0.1:{server.config.port}", factory, settings, tmp)
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=10)
        if worker is not None:
            stop_worker(worker)
        engine.dispose()
        mp.undo()
        get_settings.cache_clear()
        get_celery.cache_clear()


def seed_demo_experiment(factory: sessionmaker[Session], settings: Settings, tmp: Path) -> None:
    """Users erin (editor) and rita (reviewer), and the demo experiment's taxonomies, approved
    mappings and datasets as ``unilabel demo ml`` registers them, with few small scenes."""
    from worker.demo_experiment import make_scene_sets, register_experiment

    roots = make_scene_sets(tmp / "roots" / "scenes", size=SCENE_SIZE, max_count=SCENES_PER_SPLIT)
    with unit_of_work(factory) as s:
        for name, role in WORKER_USERS:
            user_service.create_user(s, name=name, role=role, password=PASSWORD)
        register_experiment(s, settings, roots=roots)
