"""Summaries for list pages (web layer): one line per mapping, pending reviews, user names.

Built from services only. The per-mapping validation counts load both taxonomies once per
taxonomy (cached per call), which is fine for the tens of mappings a team keeps; a single-query
repository function would be the next step if lists grow to thousands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.db.models import ReviewComment
from app.domain.errors import NotFound
from app.domain.taxonomy import Taxonomy
from app.domain.validation import validate_mapping
from app.services import mappings as mapping_service
from app.services import users as user_service
from app.web.pages import _taxonomy_cache

MAX_LISTED = 500


@dataclass(frozen=True, slots=True)
class MappingSummary:
    id: int
    name: str
    source_id: int
    source_name: str
    target_id: int
    target_name: str
    version: int
    status: str
    errors: int
    warnings: int
    author: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PendingReview:
    mapping_id: int
    mapping_name: str
    version_id: int
    version: int
    author: str | None
    created_at: datetime
    message: str
    submitted_by: str | None = None
    note: str = ""  # the message given when the version was submitted for review


def user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the given user ids (unknown/deleted ids are left out)."""
    out: dict[int, str] = {}
    for uid in {i for i in ids if i is not None}:
        try:
            out[uid] = user_service.get_user(session, uid).name
        except NotFound:
            continue
    return out


class _TaxonomyCache:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[int, Taxonomy] = {}

    def get(self, taxonomy_id: int) -> Taxonomy:
        if taxonomy_id not in self.cache:
            self.cache[taxonomy_id] = _taxonomy_cache.load_taxonomy(self.session, taxonomy_id)
        return self.cache[taxonomy_id]


def summarize_mappings(session: Session, rows: Sequence[MappingRow]) -> list[MappingSummary]:
    """One summary per mapping: head status, validation counts, last author."""
    heads = mapping_service.heads_of(session, rows)
    names = user_names(session, (h.author_id for h in heads.values()))
    taxonomies = _TaxonomyCache(session)
    out = []
    for m in rows:
        head = heads.get(m.id)
        if head is None:
            continue
        source, target = taxonomies.get(m.source_taxonomy_id), taxonomies.get(m.target_taxonomy_id)
        report = validate_mapping(
            mapping_service.version_edges(head),
            source,
            target,
            extra_findings=mapping_service.import_findings(head),
        )
        out.append(
            MappingSummary(
                id=m.id,
                name=m.name,
                source_id=m.source_taxonomy_id,
                source_name=source.name,
                target_id=m.target_taxonomy_id,
                target_name=target.name,
                version=head.number,
                status=head.status,
                errors=len(report.errors),
                warnings=len(report.warnings),
                author=names.get(head.author_id) if head.author_id else None,
                updated_at=head.created_at,
            )
        )
    return out


def pending_reviews(session: Session) -> list[PendingReview]:
    """Versions waiting for a reviewer, oldest first."""
    rows, _ = mapping_service.list_mappings(session, limit=MAX_LISTED)
    found: list[tuple[MappingRow, VersionRow]] = []
    for m in rows:
        versions, _ = mapping_service.list_versions(session, m.id, status="in_review", limit=MAX_LISTED)
        found.extend((m, v) for v in versions)
    submits = {v.id: _last_submit(session, v.id) for _, v in found}
    names = user_names(
        session, [v.author_id for _, v in found] + [c.author_id for c in submits.values() if c is not None]
    )
    items = []
    for m, v in found:
        sub = submits[v.id]
        items.append(
            PendingReview(
                m.id,
                m.name,
                v.id,
                v.number,
                names.get(v.author_id or -1),
                v.created_at,
                v.message,
                submitted_by=names.get(sub.author_id or -1) if sub else None,
                note=sub.body if sub else "",
            )
        )
    return sorted(items, key=lambda p: p.created_at)


def _last_submit(session: Session, version_id: int) -> ReviewComment | None:
    comments, _ = mapping_service.list_comments(session, version_id, limit=MAX_LISTED)
    return next((c for c in reversed(comments) if c.kind == "submit"), None)


def count_pending_reviews(session: Session) -> int:
    """Versions in review (cheaper than pending_reviews: no comments, no names)."""
    rows, _ = mapping_service.list_mappings(session, limit=MAX_LISTED)
    return sum(mapping_service.list_versions(session, m.id, status="in_review", limit=1)[1] for m in rows)
