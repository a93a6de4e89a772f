"""Shared fixtures: Settings on a throw-away database built by ``alembic upgrade head``.

Database backends: every test that uses ``database_url`` (directly or through ``settings``,
``session``, ``client``) runs once per backend selected with ``--db`` (default
``sqlite,postgres``; env ``UNILABEL_TEST_DBS``). The PostgreSQL run uses
``UNILABEL_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
inside a private schema per test session, and is skipped with a visible reason when unreachable.

Isolation: SQLite tests get a fresh copy of a database file migrated once per session; PostgreSQL
tests truncate every table afterwards. The app under test therefore uses its real engine and its
real commits (which a rolled-back outer transaction would hide).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, load_settings
from app.db.migrate import upgrade_database
from app.db.session import make_engine, make_sessionmaker
from tests import factories
from tests.services_required import skip_unless_required

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = REPO_ROOT.parent / "shared" / "reference-lists"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_SECRET = "test-secret-key-0123456789abcdef"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("UNILABEL_TEST_DBS", "sqlite,postgres"),
        help="comma-separated database backends for DB tests: sqlite, postgres",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        backends = [b.strip() for b in metafunc.config.getoption("--db").split(",") if b.strip()]
        params = [
            pytest.param(b, id=b, marks=[pytest.mark.integration] if b == "postgres" else [])
            for b in backends
        ]
        metafunc.parametrize("db_backend", params, scope="session")


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 with its smallest cost in this test process: the default (64 MiB, 3 passes, 4 lanes)
    costs ~0.4 s of CPU per create-and-login, paid by every password login of the suite. Still
    argon2id hashing and verifying, so wrong passwords are still refused; servers that tests start
    as subprocesses keep the default."""
    from argon2 import PasswordHasher

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("app.services.users._hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        yield


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not SHARED_REFERENCE.is_dir():
        pytest.skip("../shared/reference-lists not present (fresh clone)")
    return SHARED_REFERENCE


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


def _postgres_reachable(url: str) -> str | None:
    try:
        engine = make_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver/network error means "skip"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


@pytest.fixture(scope="session")
def _postgres_schema_url() -> Iterator[str]:
    base = os.environ.get("UNILABEL_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    problem = _postgres_reachable(base)
    if problem is not None:
        skip_unless_required(f"PostgreSQL at {base} unreachable ({problem}); PostgreSQL run skipped")
    schema = f"ul_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade_database(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            tables = conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            names = ", ".join(f'"{t}"' for t in tables)
            if names:
                conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture
def database_url(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for this test."""
    if db_backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "test.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    elif db_backend == "postgres":
        url: str = request.getfixturevalue("_postgres_schema_url")
        try:
            yield url
        finally:
            _truncate_postgres(url)
    else:  # pragma: no cover
        raise pytest.UsageError(f"unknown --db backend {db_backend!r}")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        broker_url="memory://",
        data_dir=tmp_path / "var" / "data",
        secret_key=TEST_SECRET,
        public_read=False,
        max_upload_bytes=200_000,
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for service tests; tests may commit, the database is discarded afterwards."""
    with session_factory() as s:
        yield s
        s.rollback()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    from app.web.main import create_app

    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def make_headers(session_factory: sessionmaker[Session]) -> Callable[..., dict[str, str]]:
    """``make_headers("editor")`` -> Bearer headers of a new user with that role."""
    counter = iter(range(1, 10_000))

    def make(role: str = "editor", name: str | None = None) -> dict[str, str]:
        with session_factory() as s:
            _, token = factories.make_user(s, role=role, name=name or f"{role}{next(counter)}")
            s.commit()
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def viewer(make_headers: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_headers("viewer")


@pytest.fixture
def editor(make_headers: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_headers("editor")


@pytest.fixture
def reviewer(make_headers: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_headers("reviewer")


@pytest.fixture
def admin(make_headers: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_headers("admin")


def _relay_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.endswith("-outbox") and t.is_alive()}


@pytest.fixture(autouse=True)
def _no_leaked_outbox_relay() -> Iterator[None]:
    """An app whose lifespan starts (TestClient as a context manager, uvicorn) stops its outbox relay
    when the test ends; a leaked one would keep polling a database the next test has dropped."""
    before = _relay_threads()
    yield
    deadline = time.monotonic() + 5
    while (leaked := _relay_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not leaked, f"outbox relay threads still running after the test: {sorted(t.name for t in leaked)}"
