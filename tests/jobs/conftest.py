"""Fixtures for the job-system tests: a migrated SQLite file, a broker, real Celery worker processes.

Workers are real ``celery worker`` subprocesses (never eager mode) sharing the test's database and
broker through ``UNILABEL_*`` environment variables. Brokers: the serverless SQLAlchemy transport
always; Redis at 127.0.0.1:6379 when reachable (skipped with a visible reason, or a failure when
``UNILABEL_REQUIRE_SERVICES=1`` as on CI).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, get_settings, load_settings
from app.db.migrate import upgrade_database
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.queue import get_celery
from tests.services_required import skip_unless_required
from tests.worker_process import REPO_ROOT, start_worker, stop_worker


def _redis_test_db() -> int:
    """Db 14 serially; under pytest-xdist each worker gets its own (gw0 -> 14, gw1 -> 13, ...),
    since the broker fixture FLUSHes the whole db before every Redis test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    if index > 14:
        raise RuntimeError(f"at most 15 xdist workers can have their own Redis test db (got {worker})")
    return 14 - index


REDIS_URL = os.environ.get("UNILABEL_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_redis_test_db()}")
TEST_SECRET = "test-secret-key-0123456789abcdef"
Headers = dict[str, str]


def redis_problem(url: str = REDIS_URL) -> str | None:
    """None when Redis answers PING, else why not."""
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_redis() -> None:
    problem = redis_problem()
    if problem is None:
        return
    message = f"Redis at {REDIS_URL} unreachable ({problem})"
    skip_unless_required(message + "; Redis worker tests skipped")


@dataclass
class JobEnv:
    """Everything a job test needs: settings, env for workers, a session factory, worker control."""

    settings: Settings
    env: dict[str, str]
    factory: sessionmaker[Session]
    tmp: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start_worker(
        self,
        name: str = "w1",
        *,
        threads: int = 1,
        queues: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        env = dict(self.env, OMP_NUM_THREADS=str(threads), UNILABEL_TORCH_THREADS=str(threads))
        env.update(extra_env or {})
        log = self.tmp / f"worker-{name}.log"
        self.workers[name] = start_worker(log, env, hostname=f"{name}@%h", queues=queues)

    def wait_ready(self, *names: str, timeout: float = 120) -> None:
        """Until each named worker has logged that it is ready (start-up recovery done)."""

        def ready() -> bool:
            logs = [(self.tmp / f"worker-{n}.log") for n in names]
            return all(p.is_file() and "ready on" in p.read_text(errors="replace") for p in logs)

        wait_for(ready, timeout=timeout, interval=0.2, what=f"workers {names} to be ready", env=self)

    def kill_worker(self, name: str = "w1") -> None:
        """SIGKILL the worker's whole process group (no clean-up of any kind runs)."""
        proc = self.workers.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        """End every worker at once (the tests are over: no graceful shutdown needed)."""
        for name in list(self.workers):
            stop_worker(self.workers.pop(name))

    def worker_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("worker-*.log")))


def _make_env(tmp: Path, broker_url: str, monkeypatch: pytest.MonkeyPatch) -> JobEnv:
    db_url = f"sqlite:///{tmp / 'unilabel.db'}"
    upgrade_database(db_url)
    env_vars = {
        "UNILABEL_DATABASE_URL": db_url,
        "UNILABEL_BROKER_URL": broker_url,
        "UNILABEL_DATA_DIR": str(tmp / "data"),
        "UNILABEL_ALLOWED_DATA_ROOTS": str(tmp / "roots"),
        "UNILABEL_SECRET_KEY": TEST_SECRET,
        "UNILABEL_JOB_LEASE_S": "4",
        "UNILABEL_JOB_HEARTBEAT_S": "0.5",
        "UNILABEL_JOB_SWEEP_S": "1",
        "UNILABEL_JOB_PROGRESS_S": "0.1",
        "UNILABEL_OUTBOX_POLL_S": "0.5",
    }
    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    get_celery.cache_clear()
    settings = load_settings()
    settings.ensure_dirs()
    (tmp / "roots").mkdir(exist_ok=True)
    env = dict(os.environ) | env_vars | {"PYTHONPATH": str(REPO_ROOT)}
    return JobEnv(settings=settings, env=env, factory=make_sessionmaker(make_engine(db_url)), tmp=tmp)


@pytest.fixture(params=["sqla", pytest.param("redis", marks=pytest.mark.integration)])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The serverless SQLite broker, and Redis (this process's test db, flushed) when reachable."""
    if request.param == "sqla":
        return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"
    require_redis()
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


@pytest.fixture
def sqla_broker_url(tmp_path: Path) -> str:
    return f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}"


def _job_env(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobEnv]:
    env = _make_env(tmp_path, url, monkeypatch)
    try:
        yield env
    finally:
        env.stop_all()
        get_settings.cache_clear()
        get_celery.cache_clear()


@pytest.fixture
def job_env(tmp_path: Path, broker_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobEnv]:
    yield from _job_env(tmp_path, broker_url, monkeypatch)


@pytest.fixture
def sqla_job_env(tmp_path: Path, sqla_broker_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[JobEnv]:
    yield from _job_env(tmp_path, sqla_broker_url, monkeypatch)


@dataclass(frozen=True)
class Demo:
    dataset_id: int
    model_id: int
    mapping_version_id: int
    dataset_root: Path
    teacher_dir: Path


@pytest.fixture(scope="session")
def teacher_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random demo teacher, built once per test session."""
    from worker.demo import make_teacher

    return make_teacher(tmp_path_factory.mktemp("teacher") / "tiny")


def make_demo(env: JobEnv, teacher_template: Path, *, count: int, height: int = 64, width: int = 96) -> Demo:
    """A synthetic dataset under the allowed root, the tiny teacher, an approved mapping."""
    from worker.demo import make_dataset, register_demo

    root = make_dataset(env.tmp / "roots" / "streets", count=count, height=height, width=width)
    teacher = env.tmp / "roots" / "teacher"
    shutil.copytree(teacher_template, teacher)
    with unit_of_work(env.factory) as s:
        ids = register_demo(s, env.settings, dataset_root=root, teacher_dir=teacher)
    return Demo(ids.dataset_id, ids.model_id, ids.mapping_version_id, root, teacher)


def wait_for(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
    env: JobEnv | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    logs = env.worker_logs() if env is not None else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n--- worker logs ---\n{logs}")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks sent after commit (captured instead of reaching a broker)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


@pytest.fixture
def world(
    client: TestClient, editor: Headers, reviewer: Headers, settings: Settings, teacher_template: Path
) -> dict[str, Any]:
    """Source/target taxonomies, an approved and a draft mapping version, a dataset, a model."""
    from worker.demo import EDGES, SOURCE, TARGET, make_dataset

    def post(url: str, body: dict[str, Any], headers: Headers = editor) -> dict[str, Any]:
        r = client.post(url, json=body, headers=headers)
        assert r.status_code in (200, 201), r.text
        return dict(r.json())

    source = post("/api/v1/taxonomies", taxonomy_json(SOURCE))
    target = post("/api/v1/taxonomies", taxonomy_json(TARGET))
    edges = [[s, t] for s, t in EDGES]
    mapping = post(
        "/api/v1/mappings",
        {"name": "m", "source_taxonomy_id": source["id"], "target_taxonomy_id": target["id"], "edges": edges},
    )
    root = make_dataset(settings.data_dir / "streets", count=4, height=32, width=48)
    teacher = settings.data_dir / "teacher"
    shutil.copytree(teacher_template, teacher)
    dataset = post(
        "/api/v1/datasets",
        {
            "name": "streets",
            "taxonomy_id": source["id"],
            "root": str(root),
            "image_pattern": "images/{split}/{stem}.png",
            "label_template": "labels/{split}/{stem}.png",
            "splits": ["train", "val"],
        },
    )
    model = post(
        "/api/v1/models",
        {"name": "tiny", "source": "folder", "spec": str(teacher), "taxonomy_id": target["id"]},
    )
    return {
        "source": source,
        "target": target,
        "mapping": mapping,
        "dataset": dataset,
        "model": model,
        "root": root,
        "teacher": teacher,
        "post": post,
    }


StoredSurvey = Callable[..., int]


@pytest.fixture
def stored_survey(
    session_factory: sessionmaker[Session], world: dict[str, Any], tmp_path: Path
) -> StoredSurvey:
    """Make a finished survey job of ``world`` with constructed statistics (what ``worker.survey_job``
    writes), no worker needed: ``stored_survey(status="succeeded") -> job id``. Each call writes its
    own ``survey.json`` (in ``tmp_path / "survey-<n>"``, the job's output_dir). Per source label:

    road → drivable, with 0.3 % vehicle (a thin target: no data evidence under the default
    ``data_min_share`` 0.005; vehicle is rare on the other labels, so its contrast, 9x, passes the
    floor tier's 2x but not the thin tier's 10x) and 9.7 %
    void (no evidence: void is more frequent on the other labels); car → 78 % vegetation (contradicts car →
    vehicle); grass → vegetation + void (fine); unlabeled (void-only) → 80 % sky; the other labels are
    not seen; ``extra`` adds labels.
    """
    from app.db.models_registry import Job
    from app.domain.survey import SurveyStats
    from worker.demo import TARGET

    made = iter(range(1_000))

    def make(*, status: str = "succeeded", extra: dict[str, list[int]] | None = None) -> int:
        stats = SurveyStats(tuple(TARGET.names))
        for name, pixels in (extra or {}).items():  # more labels: arg-max pixels, mass alike
            stats.add(name, pixels, [float(v) for v in pixels], images=3)
        # drivable, vehicle, vegetation, sky, void
        stats.add("road", [9000, 30, 0, 0, 970], [9000.0, 30, 0, 0, 970], images=12)
        stats.add("car", [0, 10, 7800, 0, 2190], [0, 10.0, 7800, 0, 2190], images=9)
        stats.add("grass", [0, 0, 9500, 0, 500], [0, 0, 9500.0, 0, 500], images=5)
        stats.add("unlabeled", [0, 0, 0, 8000, 2000], [0, 0, 0, 8000.0, 2000], images=4)
        out = tmp_path / f"survey-{next(made)}"
        out.mkdir()
        prov = {"teacher": {"model_id": world["model"]["id"]}, "sample": {"seed": 0}}
        (out / "survey.json").write_text(json.dumps({"survey": stats.to_json(), "provenance": prov}))
        with session_factory() as s:
            job = Job(
                kind="survey",
                status=status,
                name="survey",
                params_json="{}",
                dataset_id=world["dataset"]["id"],
                model_id=world["model"]["id"],
                output_dir=str(out),
            )
            s.add(job)
            s.commit()
            return job.id

    return make


def taxonomy_json(taxonomy: Any) -> dict[str, Any]:
    labels = [{"value": lb.value, "name": lb.name, "color": lb.color} for lb in taxonomy.labels]
    return {"name": taxonomy.name, "labels": labels}


def approve_version(client: TestClient, editor: Headers, reviewer: Headers, mapping: dict[str, Any]) -> None:
    number = mapping["current_version"]["number"]
    for action, who in (("submit", editor), ("approve", reviewer)):
        r = client.post(f"/api/v1/mappings/{mapping['id']}/versions/{number}/{action}", json={}, headers=who)
        assert r.status_code == 200, r.text
