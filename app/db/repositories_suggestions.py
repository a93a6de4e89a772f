"""Queries for mapping suggestions (DB layer): the approved versions that serve as evidence, and the
suggestions rejected per mapping."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import Mapping, MappingVersion, SuggestionRejection

APPROVED = "approved"


def latest_approved_versions(
    session: Session, *, target_taxonomy_id: int, exclude_source_taxonomy_id: int
) -> list[tuple[Mapping, MappingVersion]]:
    """Per mapping to the target from another source taxonomy: its newest approved version.

    Ordered by mapping id; mappings with no approved version are left out.
    """
    stmt = (
        select(Mapping, MappingVersion)
        .join(MappingVersion, MappingVersion.mapping_id == Mapping.id)
        .where(
            Mapping.target_taxonomy_id == target_taxonomy_id,
            Mapping.source_taxonomy_id != exclude_source_taxonomy_id,
            MappingVersion.status == APPROVED,
        )
        .order_by(Mapping.id, MappingVersion.number.desc())
    )
    newest: dict[int, tuple[Mapping, MappingVersion]] = {}
    for mapping, version in session.execute(stmt).all():
        newest.setdefault(mapping.id, (mapping, version))
    return list(newest.values())


def rejected_edges(session: Session, mapping_id: int) -> set[tuple[str, int]]:
    """(source name, target id) of the suggestions rejected for a mapping."""
    stmt = select(SuggestionRejection.source_name, SuggestionRejection.target_id).where(
        SuggestionRejection.mapping_id == mapping_id
    )
    return {(name, target) for name, target in session.execute(stmt).all()}


def get_rejection(
    session: Session, mapping_id: int, source_name: str, target_id: int
) -> SuggestionRejection | None:
    stmt = select(SuggestionRejection).where(
        SuggestionRejection.mapping_id == mapping_id,
        SuggestionRejection.source_name == source_name,
        SuggestionRejection.target_id == target_id,
    )
    return session.scalar(stmt)


def add_rejection(
    session: Session, mapping_id: int, source_name: str, target_id: int, author_id: int | None
) -> tuple[SuggestionRejection, bool]:
    """Insert a rejection (in a savepoint); ``(row, False)`` when it exists already, even when a
    concurrent transaction inserted it first."""
    existing = get_rejection(session, mapping_id, source_name, target_id)
    if existing is not None:
        return existing, False
    row = SuggestionRejection(
        mapping_id=mapping_id, source_name=source_name, target_id=target_id, author_id=author_id
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = get_rejection(session, mapping_id, source_name, target_id)
        if found is None:
            raise
        return found, False
    return row, True


def delete_rejection(session: Session, mapping_id: int, source_name: str, target_id: int) -> bool:
    stmt = delete(SuggestionRejection).where(
        SuggestionRejection.mapping_id == mapping_id,
        SuggestionRejection.source_name == source_name,
        SuggestionRejection.target_id == target_id,
    )
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount > 0
