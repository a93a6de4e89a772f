"""SQLite under a running job: reads (and the bookkeeping writes they cause) wait for the writer.

A job's worker holds SQLite's single write lock for each progress, heartbeat or log write. Requests
must never fail with "database is locked" because of it: readers in WAL mode do not wait at all,
and a request that writes (a bearer token's last-used time, a new taxonomy) waits on the busy
timeout instead of failing at once.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.session import engine_from_settings
from tests import factories

LOCK_HOLD_S = 0.3


@pytest.fixture
def sqlite_settings(settings: Settings, db_backend: str) -> Settings:
    if db_backend != "sqlite":
        pytest.skip("SQLite locking only")
    return settings


@pytest.fixture
def lock_holder(sqlite_settings: Settings) -> Iterator[Callable[[], int]]:
    """A thread that, like a busy worker, takes the write lock for LOCK_HOLD_S again and again."""
    path = sqlite_settings.database_url.split("sqlite:///", 1)[1]
    stop = threading.Event()
    held = [0]

    def hold() -> None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE job SET message = 'busy' WHERE id = -1")
                held[0] += 1
                time.sleep(LOCK_HOLD_S)
                conn.execute("COMMIT")
                time.sleep(0.02)
        finally:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield lambda: held[0]
    finally:
        stop.set()
        thread.join(timeout=10)


def test_reads_and_their_bookkeeping_writes_wait_for_the_writer(
    client: TestClient, session_factory: sessionmaker[Session], lock_holder: Callable[[], int]
) -> None:
    # Fresh tokens: each one's first use records its last-used time, i.e. a write inside a GET.
    with session_factory() as s:
        tokens = [factories.make_user(s, role="editor", name=f"reader{i}")[1] for i in range(12)]
        mapping = factories.make_mapping(s)
        s.commit()
    urls = ["/api/v1/users/me", "/api/v1/taxonomies", "/api/v1/jobs", f"/api/v1/mappings/{mapping.id}"]
    while lock_holder() == 0:
        time.sleep(0.01)

    def read(i: int) -> int:
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        return client.get(urls[i % len(urls)], headers=headers).status_code

    def write(i: int) -> int:
        headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
        body = {"name": f"during-lock-{i}", "labels": [{"value": 0, "name": "road"}]}
        return client.post("/api/v1/taxonomies", json=body, headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        reads = pool.map(read, range(96))
        writes = pool.map(write, range(8))
        read_codes, write_codes = list(reads), list(writes)
    assert read_codes == [200] * 96
    assert write_codes == [201] * 8
    assert lock_holder() >= 2  # the lock really was taken again and again meanwhile


def test_busy_timeout_comes_from_the_settings(sqlite_settings: Settings, tmp_path: Path) -> None:
    engine = engine_from_settings(sqlite_settings.model_copy(update={"sqlite_busy_timeout_s": 2.5}))
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 2500
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        engine.dispose()
