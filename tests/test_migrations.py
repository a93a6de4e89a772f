"""Alembic migrations on SQLite: reversible, and the schema they build matches the ORM models."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import app.db
from app.db.base import Base
from app.db.migrate import downgrade_database, upgrade_database
from app.db.session import make_engine

REPO_ROOT = Path(__file__).resolve().parents[1]


def _all_models() -> None:
    for module in pkgutil.iter_modules(app.db.__path__, "app.db."):
        importlib.import_module(module.name)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    assert {
        "taxonomy",
        "label",
        "mapping",
        "mapping_version",
        "review_comment",
        "user",
        "api_token",
    } <= _tables(url)
    downgrade_database(url, "base")
    assert _tables(url) == set()
    upgrade_database(url)


def test_schema_matches_models(tmp_path: Path) -> None:
    _all_models()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_migration_files_are_date_slug_named() -> None:
    for path in (REPO_ROOT / "migrations" / "versions").glob("*.py"):
        stem = path.stem
        assert stem[:10].count("-") == 2 and stem[10] == "_", path.name
