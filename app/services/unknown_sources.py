"""Fixes for source names a mapping's source taxonomy lacks (services layer).

A name that is not a label of the source taxonomy is never an editor row: it is an
``unknown_source_name`` finding. With a suggestion, ``mapping_files.apply_suggestion`` moves its
targets to the suggested label(s). Without one, an edge stored for it before edits were checked
can only be removed: :func:`drop_unknown_source` (a new version on top of the head).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.errors import InvalidInput
from app.services._mapping_core import get_mapping, get_version, version_edges
from app.services.mapping_edits import replace_edges


def drop_unknown_source(
    session: Session, *, version_id: int, source_name: str, author: User | None = None
) -> VersionRow:
    """Remove every edge of ``source_name`` (not a label of the source taxonomy) on top of
    ``version_id``, which must be the head (``StaleVersion``, 409, otherwise)."""
    version = get_version(session, version_id)
    mapping = get_mapping(session, version.mapping_id)
    if repo.has_label_name(session, mapping.source_taxonomy_id, source_name):
        raise InvalidInput(f"{source_name!r} is a label of the source taxonomy", field="source_name")
    edges = version_edges(version)
    if not edges.targets_of(source_name):
        raise InvalidInput(f"version {version.number} has no edge for {source_name!r}", field="source_name")
    return replace_edges(
        session,
        mapping_id=mapping.id,
        edges=[e for e in edges.edges if e[0] != source_name],
        base_version_id=version.id,
        author=author,
        message=f"Remove the edges of {source_name!r} (not a label of the source taxonomy)",
    )
