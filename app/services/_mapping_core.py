"""Shared core of the mapping services (services layer): lookups, version rows, stale-edit error.

Private to ``app.services.mappings`` / ``mapping_edits`` (which re-export the public names); it
exists so that those modules import it without an import cycle.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.base import utcnow
from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.mapping import OntologyMapping, mapping_from_json
from app.domain.validation import Finding


class StaleVersion(Conflict):
    """The edit was based on a version that is no longer the head (HTTP 409)."""

    code = "stale_version"


def get_mapping(session: Session, mapping_id: int) -> MappingRow:
    row = repo.get_mapping(session, mapping_id)
    if row is None:
        raise NotFound(f"mapping {mapping_id} does not exist", field="mapping_id")
    return row


def _check_source_name(session: Session, mapping: MappingRow, name: str) -> None:
    if not repo.has_label_name(session, mapping.source_taxonomy_id, name):
        raise InvalidInput(f"{name!r} is not a label of the source taxonomy", field="source_name")


def _new_version(
    session: Session,
    *,
    mapping_id: int,
    number: int,
    edges: OntologyMapping,
    parent: VersionRow | None,
    author: User | None,
    message: str,
    restored_from_id: int | None = None,
    import_findings: tuple[Finding, ...] = (),
) -> VersionRow:
    version = VersionRow(
        mapping_id=mapping_id,
        number=number,
        parent_id=parent.id if parent else None,
        restored_from_id=restored_from_id,
        author_id=author.id if author else None,
        message=message,
        content_hash=edges.content_hash(),
        edges_json=edges.canonical_json(),
        edge_count=len(edges),
        status="draft",
        import_findings_json=json.dumps([f.to_dict() for f in import_findings]) if import_findings else None,
    )
    session.add(version)
    try:
        session.flush()
    except IntegrityError:
        # Another writer created this version number between our head check and the insert (edits
        # lock the mapping row first, see ``lock_for_edit``, so this is the fallback). The failed
        # flush has already rolled the database transaction back; reset the session so that the
        # head can be re-read for the documented 409 body. No SAVEPOINT: pysqlite would commit on
        # RELEASE of a savepoint that opened the transaction.
        session.rollback()
        head = repo.get_head_version(session, mapping_id)
        raise StaleVersion(
            "the mapping changed while saving; reload and apply your change again",
            field="base_version",
            details={"mapping_id": mapping_id, "current_version": version_payload(head) if head else None},
        ) from None
    return version


def lock_for_edit(session: Session, mapping_id: int) -> None:
    """Take the mapping's row lock before an edit reads the head: edits of one mapping run one at
    a time, so a second writer waits, then sees the first one's version in its head check (409
    with ``details.current_version``) instead of failing on the (mapping_id, number) constraint.

    PostgreSQL locks the row until commit; SQLite takes its database write lock, and a read after
    that sees every committed version.
    """
    if not repo.touch_mapping(session, mapping_id, utcnow()):
        raise NotFound(f"mapping {mapping_id} does not exist", field="mapping_id")


def current_version(session: Session, mapping_id: int) -> VersionRow:
    get_mapping(session, mapping_id)
    head = repo.get_head_version(session, mapping_id)
    if head is None:  # pragma: no cover - create_mapping always writes version 1
        raise NotFound(f"mapping {mapping_id} has no versions")
    return head


def get_version(session: Session, version_id: int) -> VersionRow:
    version = repo.get_version(session, version_id)
    if version is None:
        raise NotFound(f"version {version_id} does not exist", field="version_id")
    return version


def version_edges(version: VersionRow) -> OntologyMapping:
    return mapping_from_json(version.edges_json)


def import_findings(version: VersionRow) -> tuple[Finding, ...]:
    """The findings only the imported file showed (stored with the version it made)."""
    if not version.import_findings_json:
        return ()
    return tuple(Finding(**f) for f in json.loads(version.import_findings_json))


def version_payload(version: VersionRow, *, with_edges: bool = True) -> dict[str, Any]:
    """A JSON-ready summary of a version (the ``current_version`` of a 409 body)."""
    data: dict[str, Any] = {
        "id": version.id,
        "mapping_id": version.mapping_id,
        "number": version.number,
        "content_hash": version.content_hash,
        "status": version.status,
        "edge_count": version.edge_count,
    }
    if with_edges:
        data["edges"] = json.loads(version.edges_json)
    return data
