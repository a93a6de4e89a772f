"""Helpers shared by the ``unilabel`` command modules (outer layer): settings, one transaction per
command, reading a file as an upload, writing output, and looking up taxonomies and mappings by id
or name. A ``DomainError`` becomes a one-line message and exit code 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy.orm import Session

from app.config import Settings, SettingsError, load_settings
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.domain.errors import DomainError
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services.limits import use_limits
from app.services.uploads import decode_upload


def _settings() -> Settings:
    try:
        settings = load_settings()
    except SettingsError as exc:
        typer.secho(str(exc), err=True, fg="red")
        raise typer.Exit(2) from None
    settings.ensure_dirs()
    return settings


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[Session]:
    """One transaction; a DomainError becomes a one-line message and exit code 1."""
    engine = make_engine(settings.database_url)
    try:
        factory = make_sessionmaker(engine)
        use_limits(factory, settings.limits)
        with unit_of_work(factory) as session:
            yield session
    except DomainError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


def _read_file(path: Path, settings: Settings) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        typer.secho(f"error: cannot read {path}: {exc.strerror}", err=True, fg="red")
        raise typer.Exit(1) from None
    try:
        return decode_upload(data, max_bytes=settings.max_upload_bytes)
    except DomainError as exc:
        typer.secho(f"error: {path}: {exc}", err=True, fg="red")
        raise typer.Exit(1) from None


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


def _taxonomy(session: Session, ref: str) -> Any:
    if ref.isdigit():
        return taxonomy_service.get_taxonomy(session, int(ref))
    return taxonomy_service.get_taxonomy_by_name(session, ref)


def _mapping(session: Session, ref: str) -> Any:
    if ref.isdigit():
        return mapping_service.get_mapping(session, int(ref))
    return mapping_service.get_mapping_by_name(session, ref)
