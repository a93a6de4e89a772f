"""Edits of a mapping (services layer): each creates a new immutable version on top of the head.

Every edit names its base (``base_version_id``, or ``base_hash`` = the head's content hash); a stale
base raises ``StaleVersion`` (HTTP 409) carrying the current head and its edges. Edits of one
mapping are serialised by its row lock (``lock_for_edit``), so racing writers on the same base all
get that 409, never a constraint error. An edit that changes nothing returns the head. The edges an
edit adds are checked once, by ``check_new_edges`` (count, source names, target ids), when it is saved.
Re-exported by ``app.services.mappings`` (see its API summary).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.mapping import VOID, OntologyMapping
from app.domain.validation import Finding
from app.services._mapping_core import (
    StaleVersion,
    _check_source_name,
    _new_version,
    current_version,
    get_mapping,
    get_version,
    import_findings,
    lock_for_edit,
    version_edges,
    version_payload,
)
from app.services.limits import check_new_edges, edges_within_limit


def _head_for_edit(
    session: Session, mapping_id: int, base_version_id: int | None, base_hash: str | None
) -> VersionRow:
    get_mapping(session, mapping_id)
    if base_version_id is None and base_hash is None:
        raise InvalidInput(
            "an edit must name the version it is based on (base_version or If-Match)", field="base_version"
        )
    lock_for_edit(session, mapping_id)
    head = current_version(session, mapping_id)
    stale = (base_version_id is not None and base_version_id != head.id) or (
        base_hash is not None and base_hash != head.content_hash
    )
    if stale:
        raise StaleVersion(
            f"the mapping has changed since your version; the current version is {head.number}",
            field="base_version",
            details={"current_version": version_payload(head)},
        )
    return head


def _target_names(session: Session, mapping: MappingRow, target_ids: Iterable[int]) -> str:
    """``car, bus`` for version messages: people read class names, not ids."""
    wanted = set(target_ids)
    labels = repo.list_labels(session, mapping.target_taxonomy_id)
    names = {lb.value: lb.name for lb in labels if lb.value in wanted}
    return ", ".join("void" if t == VOID else names.get(t, str(t)) for t in sorted(wanted))


def _open_unknown_names(head: VersionRow, edges: OntologyMapping) -> tuple[Finding, ...]:
    """The head's file findings for names the source taxonomy lacks that have a suggestion, carried
    over to a chip edit: a typo found at import stays visible, with its one-click fix, until it is
    fixed (one whose suggested label(s) already have all its targets is fixed, and dropped). Those
    without a suggestion offer nothing to do; like other file findings, they stay with the import."""
    return tuple(
        f
        for f in import_findings(head)
        if f.code == "unknown_source_name"
        and f.fix
        and not all(set(f.targets) <= set(edges.targets_of(n)) for n in f.fix)
    )


def _commit_edges(
    session: Session,
    head: VersionRow,
    edges: OntologyMapping,
    *,
    author: User | None,
    message: str,
    restored_from_id: int | None = None,
    import_findings: tuple[Finding, ...] = (),
    carry_findings: bool = False,
) -> VersionRow:
    if edges.content_hash() == head.content_hash and not import_findings:
        return head
    check_new_edges(session, mapping_id=head.mapping_id, new=edges, old=version_edges(head))
    if carry_findings:
        import_findings = _open_unknown_names(head, edges)
    return _new_version(
        session,
        mapping_id=head.mapping_id,
        number=head.number + 1,
        edges=edges,
        parent=head,
        author=author,
        message=message,
        restored_from_id=restored_from_id,
        import_findings=import_findings,
    )


def toggle_edge(
    session: Session,
    *,
    mapping_id: int,
    source_name: str,
    target_id: int,
    base_version_id: int | None = None,
    base_hash: str | None = None,
    author: User | None = None,
    on: bool | None = None,
    message: str | None = None,
) -> VersionRow:
    """Add or remove one edge (``on=None`` flips it); adding needs a known source label."""
    mapping = get_mapping(session, mapping_id)
    head = _head_for_edit(session, mapping_id, base_version_id, base_hash)
    edges = version_edges(head)
    present = (source_name, target_id) in edges.edges
    add = (not present) if on is None else on
    if add and not present:
        _check_source_name(session, mapping, source_name)
        new = edges.with_edge(source_name, target_id)
    elif not add and present:
        new = edges.without_edge(source_name, target_id)
    else:
        return head
    verb = "Map" if add else "Unmap"
    text = message or f"{verb} {source_name!r} → {_target_names(session, mapping, (target_id,))}"
    return _commit_edges(session, head, new, author=author, message=text, carry_findings=True)


def set_targets(
    session: Session,
    *,
    mapping_id: int,
    source_name: str,
    target_ids: Iterable[int],
    base_version_id: int | None = None,
    base_hash: str | None = None,
    author: User | None = None,
    message: str | None = None,
) -> VersionRow:
    """Replace all targets of one source label (an empty list leaves it unmapped)."""
    mapping = get_mapping(session, mapping_id)
    head = _head_for_edit(session, mapping_id, base_version_id, base_hash)
    targets = sorted(set(target_ids))
    if targets:
        _check_source_name(session, mapping, source_name)
    new = version_edges(head).with_targets(source_name, targets)
    shown = _target_names(session, mapping, targets) if targets else "none (unmapped)"
    text = message or f"Set targets of {source_name!r} to {shown}"
    return _commit_edges(session, head, new, author=author, message=text, carry_findings=True)


def replace_edges(
    session: Session,
    *,
    mapping_id: int,
    edges: Iterable[tuple[str, int]],
    base_version_id: int | None = None,
    base_hash: str | None = None,
    author: User | None = None,
    message: str = "",
    import_findings: tuple[Finding, ...] = (),
) -> VersionRow:
    """Bulk replace: the new version has exactly ``edges`` (see ``check_new_edges`` for what is refused)."""
    head = _head_for_edit(session, mapping_id, base_version_id, base_hash)
    new = edges_within_limit(session, edges, before=head.edge_count)
    return _commit_edges(
        session, head, new, author=author, message=message or "Replace edges", import_findings=import_findings
    )


def restore_version(
    session: Session,
    *,
    mapping_id: int,
    version_id: int,
    base_version_id: int | None = None,
    base_hash: str | None = None,
    author: User | None = None,
    message: str | None = None,
) -> VersionRow:
    """A new head whose edges equal those of an older version."""
    old = get_version(session, version_id)
    if old.mapping_id != mapping_id:
        raise NotFound(f"version {version_id} is not a version of mapping {mapping_id}", field="version_id")
    head = _head_for_edit(session, mapping_id, base_version_id, base_hash)
    if old.content_hash == head.content_hash:
        return head
    restored = version_edges(old)
    check_new_edges(session, mapping_id=mapping_id, new=restored, old=version_edges(head))
    return _new_version(
        session,
        mapping_id=mapping_id,
        number=head.number + 1,
        edges=restored,
        parent=head,
        author=author,
        message=message or f"Restore version {old.number}",
        restored_from_id=old.id,
        import_findings=import_findings(old),  # its file's findings come back with its edges
    )


def undo(
    session: Session,
    *,
    mapping_id: int,
    base_version_id: int | None = None,
    base_hash: str | None = None,
    author: User | None = None,
) -> VersionRow:
    """Step back one edit. Repeated undos keep walking back (an undo of an undo does not redo)."""
    head = _head_for_edit(session, mapping_id, base_version_id, base_hash)
    anchor = get_version(session, head.restored_from_id) if head.restored_from_id else head
    if anchor.parent_id is None:
        raise Conflict("nothing to undo: this is the first version", field="base_version")
    return restore_version(
        session,
        mapping_id=mapping_id,
        version_id=anchor.parent_id,
        base_version_id=head.id,
        author=author,
        message=f"Undo (back to version {get_version(session, anchor.parent_id).number})",
    )
