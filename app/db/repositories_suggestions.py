"""Queries for mapping suggestions (DB layer): the approved versions that serve as evidence."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import Mapping, MappingVersion

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
