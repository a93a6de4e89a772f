"""Suggested edges taken into a mapping (services layer): each is an ordinary edit, one version.

API (session first, keyword-only arguments; flush, never commit; a stale base raises StaleVersion):
    accept_suggestion(session, mapping_id, *, key, base_version_id, author=None) -> VersionRow
        one edge, message "accepted suggestion: 'x' → y"
    accept_suggestions(session, mapping_id, *, keys, min_score, base_version_id, author=None)
        -> VersionRow   the edges of a previewed "accept all with score ≥ x", in one version
    draft_from_evidence(session, mapping_id, *, keys, min_score, base_version_id, author=None)
        -> VersionRow   a complete first version of an empty mapping: the previewed edges, and void
        for every source label they leave out

Keys are the suggestion keys of :mod:`app.services.suggestions` (``<target id>:<source name>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.errors import Conflict, InvalidInput
from app.domain.mapping import VOID, Edge
from app.services._mapping_core import current_version, get_mapping, version_edges
from app.services.mapping_edits import replace_edges, toggle_edge
from app.services.suggestions import parse_key

MAX_KEYS = 10_000
SHOWN_IN_MESSAGE = 5


def _target_names(session: Session, mapping: MappingRow) -> dict[int, str]:
    names = {lb.value: lb.name for lb in repo.list_labels(session, mapping.target_taxonomy_id)}
    return {**names, VOID: "void"}


def _edge_text(edge: Edge, names: dict[int, str]) -> str:
    return f"{edge[0]!r} → {names.get(edge[1], str(edge[1]))}"


def _checked_edges(session: Session, mapping: MappingRow, keys: Sequence[str]) -> list[Edge]:
    """Parsed keys in the given order (duplicates dropped); InvalidInput for an unknown label or class."""
    if not keys:
        raise InvalidInput("no suggestion to accept", field="keys")
    if len(keys) > MAX_KEYS:
        raise InvalidInput(f"at most {MAX_KEYS} suggestions at once, got {len(keys)}", field="keys")
    edges = list(dict.fromkeys(parse_key(k) for k in keys))
    classes = set(repo.label_values(session, mapping.target_taxonomy_id)) | {VOID}
    for name, target in edges:
        if target not in classes:
            raise InvalidInput(f"the target taxonomy has no class {target}", field="keys")
        if not repo.has_label_name(session, mapping.source_taxonomy_id, name):
            raise InvalidInput(f"the source taxonomy has no label {name!r}", field="keys")
    return edges


def _listed(edges: Iterable[Edge], names: dict[int, str]) -> str:
    edges = list(edges)
    text = ", ".join(_edge_text(e, names) for e in edges[:SHOWN_IN_MESSAGE])
    more = len(edges) - SHOWN_IN_MESSAGE
    return text + (f" and {more} more" if more > 0 else "")


def accept_suggestion(
    session: Session, mapping_id: int, *, key: str, base_version_id: int, author: User | None = None
) -> VersionRow:
    """Add one suggested edge through the ordinary edit path (an unchanged mapping returns the head)."""
    mapping = get_mapping(session, mapping_id)
    (edge,) = _checked_edges(session, mapping, [key])
    return toggle_edge(
        session,
        mapping_id=mapping_id,
        source_name=edge[0],
        target_id=edge[1],
        base_version_id=base_version_id,
        author=author,
        on=True,
        message=f"accepted suggestion: {_edge_text(edge, _target_names(session, mapping))}",
    )


def accept_suggestions(
    session: Session,
    mapping_id: int,
    *,
    keys: Sequence[str],
    min_score: float,
    base_version_id: int,
    author: User | None = None,
) -> VersionRow:
    """Add the previewed suggested edges in one version (those already there change nothing)."""
    mapping = get_mapping(session, mapping_id)
    wanted = _checked_edges(session, mapping, keys)
    head = current_version(session, mapping_id)
    present = version_edges(head).edges
    new = [e for e in wanted if e not in present]
    names = _target_names(session, mapping)
    message = (
        f"accepted {len(new)} suggestion{'s' if len(new) != 1 else ''} with score ≥ {min_score:.2f}: "
        f"{_listed(new, names)}"
    )
    return replace_edges(
        session,
        mapping_id=mapping_id,
        edges=sorted(present | set(new)),
        base_version_id=base_version_id,
        author=author,
        message=message,
    )


def draft_from_evidence(
    session: Session,
    mapping_id: int,
    *,
    keys: Sequence[str],
    min_score: float,
    base_version_id: int,
    author: User | None = None,
) -> VersionRow:
    """A complete first version of an empty mapping: the previewed edges, void for every other label.

    Refuses (409) a mapping that already has edges: a draft would overwrite someone's work.
    """
    mapping = get_mapping(session, mapping_id)
    head = current_version(session, mapping_id)
    if head.edge_count and head.id == base_version_id:
        raise Conflict(
            "Draft from evidence is for an empty mapping; this one already has edges", field="base_version"
        )
    edges = set(_checked_edges(session, mapping, keys))
    covered = {name for name, _ in edges}
    labels = [lb.name for lb in repo.list_labels(session, mapping.source_taxonomy_id)]
    edges |= {(name, VOID) for name in labels if name not in covered}
    chosen = sum(1 for _, t in edges if t != VOID)
    message = (
        f"Draft from evidence: the top suggestion of {chosen} label{'s' if chosen != 1 else ''} "
        f"(score ≥ {min_score:.2f}), void for the other {len(edges) - chosen}"
    )
    return replace_edges(
        session,
        mapping_id=mapping_id,
        edges=sorted(edges),
        base_version_id=base_version_id,
        author=author,
        message=message,
    )
