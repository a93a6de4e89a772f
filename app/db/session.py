"""Engine, sessions and the unit of work (DB layer).

API:
    make_engine(url)             -- an Engine; SQLite gets foreign keys, WAL and a busy timeout.
    engine_from_settings(s)      -- the same, with pool sizes and busy timeout from ``Settings``.
    pool_status(engine)          -- checked-out / size / overflow counts of the connection pool.
    make_sessionmaker(engine)    -- ``sessionmaker`` with ``expire_on_commit=False``.
    unit_of_work(factory)        -- context manager: yields a Session, commits on success (then runs
                                    the after-commit hooks of ``app.queue``), rolls back on error.
    commit_now(session)          -- commit inside a unit of work and run its after-commit hooks now.

Services only ``flush()``; the request dependency or the CLI/task wrapper owns the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from app.queue import discard_after_commit_hooks, run_after_commit_hooks

if TYPE_CHECKING:
    from app.config import Settings


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # A writer that finds the lock taken waits up to this long (the default is to fail at once,
        # which turned reads that update bookkeeping into 500 "database is locked").
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        # In WAL mode NORMAL never corrupts the database; it only syncs at checkpoints, which makes a
        # commit (one per mapping edit) several times cheaper than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


def make_engine(url: str, *, busy_timeout_s: float = 10.0, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite connections enforce foreign keys and wait on locks.

    SQLite files run in WAL mode (readers never wait for the writer) and a writer waits up to
    ``busy_timeout_s`` for the lock. Other ``kwargs`` go to ``create_engine`` (pool sizes, ...).
    """
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": busy_timeout_s})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(int(busy_timeout_s * 1000)))
        if ":memory:" not in url:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def engine_from_settings(settings: Settings, **kwargs: Any) -> Engine:
    """The engine of a long-lived process: pool sizes and the SQLite busy timeout from ``settings``.

    The pool holds ``db_pool_size`` connections plus up to ``db_max_overflow`` more under load; a
    checkout waits at most ``db_pool_timeout`` seconds. (SQLite file databases use the same
    ``QueuePool``; in-memory ones keep SQLAlchemy's single-connection pool.)
    """
    if ":memory:" not in settings.database_url:
        kwargs.setdefault("pool_size", settings.db_pool_size)
        kwargs.setdefault("max_overflow", settings.db_max_overflow)
        kwargs.setdefault("pool_timeout", settings.db_pool_timeout)
    return make_engine(settings.database_url, busy_timeout_s=settings.sqlite_busy_timeout_s, **kwargs)


def pool_status(engine: Engine) -> dict[str, int]:
    """``{"checked_out", "size", "overflow"}`` of a ``QueuePool`` (zeros for other pools)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return {"checked_out": 0, "size": 0, "overflow": 0}
    return {"checked_out": pool.checkedout(), "size": pool.size(), "overflow": max(0, pool.overflow())}


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


def commit_now(session: Session) -> None:
    """Commit the unit of work's session now and run its after-commit hooks (publish its outbox rows).

    For a handler that answers with what happened after the commit: a job submission says whether
    the broker took its message ("waiting for the broker" when not). The unit of work's own commit
    at the end then finds nothing left to do.
    """
    session.commit()
    run_after_commit_hooks(session)
