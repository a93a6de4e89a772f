"""PostgreSQL at 127.0.0.1:5432: migrations run up, down and up again, and match the models.

The API and service tests also run against PostgreSQL (``--db``); this module covers what only
a fresh private schema can: the full downgrade path. Skipped with a reason when unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from app.db.base import Base
from app.db.migrate import downgrade_database, upgrade_database
from app.db.session import make_engine
from tests.conftest import DEFAULT_PG_URL, _postgres_reachable
from tests.services_required import skip_unless_required
from tests.test_migrations import _all_models

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_url() -> Iterator[str]:
    base = os.environ.get("UNILABEL_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    problem = _postgres_reachable(base)
    if problem is not None:
        skip_unless_required(f"PostgreSQL at {base} unreachable ({problem})")
    schema = f"ul_mig_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_are_reversible(pg_url: str) -> None:
    upgrade_database(pg_url)
    assert {"taxonomy", "label", "mapping", "mapping_version", "user", "api_token"} <= _tables(pg_url)
    downgrade_database(pg_url, "base")
    assert _tables(pg_url) == set()
    upgrade_database(pg_url)
    assert "mapping_version" in _tables(pg_url)


def test_models_match_migrations(pg_url: str) -> None:
    _all_models()
    upgrade_database(pg_url)
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
