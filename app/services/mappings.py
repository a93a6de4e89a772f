"""Mapping use cases (services layer): mappings, immutable versions, edits with stale checks, diff.

Every edit creates a new immutable ``MappingVersion`` (the highest ``number`` is the head) and
must name the version it was based on (``base_version_id``, or ``base_hash`` = the head's
content hash). A stale base raises :class:`StaleVersion` (HTTP 409) whose ``details`` hold the
current head with its edges, so the client can re-apply its change; nothing stored is lost.
Edits that change nothing return the head unchanged.

API (session first, keyword-only arguments; flush, never commit):
    list_mappings(session, *, limit=50, offset=0, source_taxonomy_id=None, target_taxonomy_id=None,
                  query=None) -> (list[MappingRow], total)
    get_mapping(session, mapping_id) / get_mapping_by_name(session, name) -> MappingRow
    create_mapping(session, *, name, source_taxonomy_id, target_taxonomy_id, edges=(), author=None,
                   message="Created", description="") -> MappingRow   (with version 1)
    update_mapping(session, mapping_id, *, name=None, description=None) -> MappingRow
    delete_mapping(session, mapping_id) -> None
    current_version(session, mapping_id) -> VersionRow
    get_version(session, version_id) / get_version_by_number(session, mapping_id, number) -> VersionRow
    find_version_by_hash(session, *, mapping_id, content_hash) -> VersionRow
    version_edges(version) -> OntologyMapping
    list_versions(session, mapping_id, *, limit=50, offset=0, status=None) -> (list[VersionRow], total)
    toggle_edge(session, *, mapping_id, source_name, target_id, base_version_id=None, base_hash=None,
                author=None, on=None, message=None) -> VersionRow
    set_targets(session, *, mapping_id, source_name, target_ids, base_version_id=None, base_hash=None,
                author=None, message=None) -> VersionRow
    replace_edges(session, *, mapping_id, edges, base_version_id=None, base_hash=None, author=None,
                  message="", import_findings=()) -> VersionRow
    undo(session, *, mapping_id, base_version_id=None, base_hash=None, author=None) -> VersionRow
    restore_version(session, *, mapping_id, version_id, base_version_id=None, base_hash=None,
                    author=None) -> VersionRow
    diff_versions(session, *, old_version_id, new_version_id) -> MappingDiff
    validation_report(session, version_id) -> ValidationReport
    version_payload(version, *, with_edges=True) -> dict   (JSON-ready, used in 409 bodies)

Edits (toggle_edge, set_targets, replace_edges, undo, restore_version) live in
``app.services.mapping_edits``, review (submit_for_review, approve, reject, add_comment,
list_comments) in ``app.services.reviews``, import/export of master_labels CSV in
``app.services.mapping_files``; all are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.mapping import (
    MappingDiff,
    diff_mappings,
)
from app.domain.taxonomy import Taxonomy
from app.domain.validation import Finding, ValidationReport, validate_mapping
from app.services import taxonomies as taxonomy_service
from app.services._mapping_core import (
    StaleVersion,
    _new_version,
    current_version,
    get_mapping,
    get_version,
    import_findings,
    version_edges,
    version_payload,
)
from app.services.limits import check_new_edges, edges_within_limit, limits_of

STATUSES: tuple[str, ...] = ("draft", "in_review", "approved", "rejected")


def list_mappings(
    session: Session,
    *,
    limit: int = 50,
    offset: int = 0,
    source_taxonomy_id: int | None = None,
    target_taxonomy_id: int | None = None,
    query: str | None = None,
) -> tuple[list[MappingRow], int]:
    return repo.page_mappings(
        session,
        limit=limit,
        offset=offset,
        source_taxonomy_id=source_taxonomy_id,
        target_taxonomy_id=target_taxonomy_id,
        query=query,
    )


def heads_of(session: Session, mappings: Iterable[MappingRow]) -> dict[int, VersionRow]:
    """Head version per mapping id (one query), for list views."""
    return repo.get_heads(session, [m.id for m in mappings])


def get_mapping_by_name(session: Session, name: str) -> MappingRow:
    row = repo.get_mapping_by_name(session, name)
    if row is None:
        raise NotFound(f"mapping {name!r} does not exist", field="name")
    return row


def _taxonomies(session: Session, mapping: MappingRow) -> tuple[Taxonomy, Taxonomy]:
    return (
        taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id),
        taxonomy_service.load_taxonomy(session, mapping.target_taxonomy_id),
    )


def create_mapping(
    session: Session,
    *,
    name: str,
    source_taxonomy_id: int,
    target_taxonomy_id: int,
    edges: Iterable[tuple[str, int]] = (),
    author: User | None = None,
    message: str = "Created",
    description: str = "",
    import_findings: tuple[Finding, ...] = (),
) -> MappingRow:
    """Create a mapping and its first version (draft); the target must be a class list 0..N-1."""
    name = name.strip()
    if not name:
        raise InvalidInput("mapping name must not be empty", field="name")
    limits_of(session).check_name(name, what="mapping name")
    if repo.get_mapping_by_name(session, name) is not None:
        raise Conflict(f"a mapping named {name!r} already exists", field="name")
    taxonomy_service.get_taxonomy(session, source_taxonomy_id)
    target = taxonomy_service.load_taxonomy(session, target_taxonomy_id)
    if not target.is_class_list():
        raise InvalidInput(
            f"target taxonomy {target.name!r} must have class ids 0..N-1", field="target_taxonomy_id"
        )
    mapping_edges = edges_within_limit(session, edges, before=0)
    row = MappingRow(
        name=name,
        description=description,
        source_taxonomy_id=source_taxonomy_id,
        target_taxonomy_id=target_taxonomy_id,
    )
    session.add(row)
    session.flush()
    check_new_edges(session, mapping_id=row.id, new=mapping_edges, old=None)
    _new_version(
        session,
        mapping_id=row.id,
        number=1,
        edges=mapping_edges,
        parent=None,
        author=author,
        message=message,
        import_findings=import_findings,
    )
    return row


def unique_mapping_name(session: Session, name: str) -> str:
    """``name``, or ``name (2)``, ``name (3)``, ... when taken."""
    candidate, n = name, 2
    while repo.get_mapping_by_name(session, candidate) is not None:
        candidate, n = f"{name} ({n})", n + 1
    return candidate


def update_mapping(
    session: Session, mapping_id: int, *, name: str | None = None, description: str | None = None
) -> MappingRow:
    row = get_mapping(session, mapping_id)
    if name is not None and name.strip() != row.name:
        name = name.strip()
        if not name:
            raise InvalidInput("mapping name must not be empty", field="name")
        limits_of(session).check_name(name, what="mapping name")
        if repo.get_mapping_by_name(session, name) is not None:
            raise Conflict(f"a mapping named {name!r} already exists", field="name")
        row.name = name
    if description is not None:
        row.description = description
    session.flush()
    return row


def delete_mapping(session: Session, mapping_id: int) -> None:
    """Delete a mapping with all its versions and comments."""
    session.delete(get_mapping(session, mapping_id))
    session.flush()


def get_version_by_number(session: Session, mapping_id: int, number: int) -> VersionRow:
    version = repo.get_version_by_number(session, mapping_id, number)
    if version is None:
        raise NotFound(f"mapping {mapping_id} has no version {number}", field="version")
    return version


def find_version_by_hash(session: Session, *, mapping_id: int, content_hash: str) -> VersionRow:
    """The newest version of a mapping with this content hash (jobs pin approved versions by hash)."""
    versions = repo.find_versions_by_hash(session, content_hash, mapping_id)
    if not versions:
        raise NotFound(f"mapping {mapping_id} has no version with hash {content_hash}", field="hash")
    approved = [v for v in versions if v.status == "approved"]
    return (approved or versions)[-1]


def list_versions(
    session: Session, mapping_id: int, *, limit: int = 50, offset: int = 0, status: str | None = None
) -> tuple[list[VersionRow], int]:
    """Versions newest first, and the total count."""
    get_mapping(session, mapping_id)
    return repo.page_versions(session, mapping_id, limit=limit, offset=offset, status=status)


def diff_versions(session: Session, *, old_version_id: int, new_version_id: int) -> MappingDiff:
    old, new = get_version(session, old_version_id), get_version(session, new_version_id)
    if old.mapping_id != new.mapping_id:
        raise InvalidInput("both versions must belong to the same mapping", field="version_id")
    return diff_mappings(version_edges(old), version_edges(new))


def validation_report(session: Session, version_id: int) -> ValidationReport:
    """The domain validation report of a version against its mapping's taxonomies."""
    version = get_version(session, version_id)
    source, target = _taxonomies(session, get_mapping(session, version.mapping_id))
    return validate_mapping(version_edges(version), source, target, extra_findings=import_findings(version))


# Re-exported so that callers find every mapping use case here.
from app.services.mapping_edits import (  # noqa: E402
    replace_edges,
    restore_version,
    set_targets,
    toggle_edge,
    undo,
)
from app.services.mapping_files import (  # noqa: E402
    authors_pseudo_label_mapping,
    export_master_labels,
    import_master_labels,
)
from app.services.reviews import (  # noqa: E402
    add_comment,
    approve,
    list_comments,
    reject,
    submit_for_review,
)

__all__ = [
    "StaleVersion",
    "add_comment",
    "authors_pseudo_label_mapping",
    "approve",
    "create_mapping",
    "current_version",
    "delete_mapping",
    "diff_versions",
    "export_master_labels",
    "find_version_by_hash",
    "get_mapping",
    "get_mapping_by_name",
    "get_version",
    "get_version_by_number",
    "heads_of",
    "import_findings",
    "import_master_labels",
    "list_comments",
    "list_mappings",
    "list_versions",
    "reject",
    "replace_edges",
    "restore_version",
    "set_targets",
    "submit_for_review",
    "toggle_edge",
    "undo",
    "update_mapping",
    "validation_report",
    "version_edges",
    "version_payload",
]
