"""Engine, sessions and the unit of work (DB layer).

API:
    make_engine(url)             -- an Engine; SQLite gets foreign keys, WAL and a busy timeout.
    make_sessionmaker(engine)    -- ``sessionmaker`` with ``expire_on_commit=False``.
    unit_of_work(factory)        -- context manager: yields a Session, commits on success (then runs
                                    the after-commit hooks of ``app.queue``), rolls back on error.

Services only ``flush()``; the request dependency or the CLI/task wrapper owns the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.queue import discard_after_commit_hooks, run_after_commit_hooks


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # In WAL mode NORMAL never corrupts the database; it only syncs at checkpoints, which makes a
    # commit (one per mapping edit) several times cheaper than FULL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite connections enforce foreign keys and wait on locks."""
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 10})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if ":memory:" not in url:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay usable after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Yield a session; commit on success and run after-commit hooks, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        discard_after_commit_hooks(session)
        raise
    finally:
        session.close()
    run_after_commit_hooks(session)
