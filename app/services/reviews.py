"""Review of mapping versions (services layer): draft -> in_review -> approved | rejected, comments.

API (also re-exported by ``app.services.mappings``):
    submit_for_review(session, *, version_id, author, message=None) -> VersionRow
        draft or rejected -> in_review
    approve(session, *, version_id, reviewer, message=None) -> VersionRow
        in_review -> approved; reviewer/admin only; refused while validation finds errors.
        Approved versions are locked: their status never changes again (jobs pin them by hash).
    reject(session, *, version_id, reviewer, message=None) -> VersionRow
        in_review -> rejected; reviewer/admin only
    add_comment(session, *, version_id, author, body, source_name=None) -> ReviewComment
    list_comments(session, version_id, *, limit=100, offset=0) -> (list[ReviewComment], total)

Each review action is also recorded as a ``ReviewComment`` with ``kind`` = submit/approve/reject.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db import repositories as repo
from app.db.base import utcnow
from app.db.models import MappingVersion as VersionRow
from app.db.models import ReviewComment, User
from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from app.services.users import has_role

_TRANSITIONS: dict[str, dict[str, str]] = {
    # action -> {from status: to status}
    "submit": {"draft": "in_review", "rejected": "in_review"},
    "approve": {"in_review": "approved"},
    "reject": {"in_review": "rejected"},
}
MAX_COMMENT = 10_000


def _record(
    session: Session,
    version: VersionRow,
    author: User | None,
    kind: str,
    body: str | None,
    source_name: str | None = None,
) -> ReviewComment:
    comment = ReviewComment(
        version_id=version.id,
        author_id=author.id if author else None,
        kind=kind,
        body=(body or "").strip(),
        source_name=source_name,
    )
    session.add(comment)
    session.flush()
    return comment


def _transition(session: Session, version_id: int, action: str) -> VersionRow:
    from app.services.mappings import get_version

    version = get_version(session, version_id)
    allowed = _TRANSITIONS[action]
    if version.status not in allowed:
        raise Conflict(
            f"version {version.number} is {version.status}; cannot {action} it",
            field="status",
            details={"status": version.status, "allowed_from": sorted(allowed)},
        )
    version.status = allowed[version.status]
    return version


def submit_for_review(
    session: Session, *, version_id: int, author: User | None, message: str | None = None
) -> VersionRow:
    version = _transition(session, version_id, "submit")
    _record(session, version, author, "submit", message)
    return version


def _require_reviewer(user: User | None) -> None:
    if not has_role(user, "reviewer"):
        raise PermissionDenied("only reviewers and admins can approve or reject versions")


def approve(
    session: Session, *, version_id: int, reviewer: User | None, message: str | None = None
) -> VersionRow:
    from app.services.mappings import validation_report

    _require_reviewer(reviewer)
    report = validation_report(session, version_id)
    if report.errors:
        raise Conflict(
            f"the version has {len(report.errors)} validation error(s); fix them before approving",
            field="status",
            details={"validation": report.to_dict()},
        )
    version = _transition(session, version_id, "approve")
    version.reviewed_by_id = reviewer.id if reviewer else None
    version.reviewed_at = utcnow()
    _record(session, version, reviewer, "approve", message)
    return version


def reject(
    session: Session, *, version_id: int, reviewer: User | None, message: str | None = None
) -> VersionRow:
    _require_reviewer(reviewer)
    version = _transition(session, version_id, "reject")
    version.reviewed_by_id = reviewer.id if reviewer else None
    version.reviewed_at = utcnow()
    _record(session, version, reviewer, "reject", message)
    return version


def add_comment(
    session: Session, *, version_id: int, author: User | None, body: str, source_name: str | None = None
) -> ReviewComment:
    from app.services.mappings import get_version

    version = get_version(session, version_id)
    if not body.strip():
        raise InvalidInput("a comment must not be empty", field="body")
    if len(body) > MAX_COMMENT:
        raise InvalidInput(f"a comment has at most {MAX_COMMENT} characters", field="body")
    return _record(session, version, author, "comment", body, source_name or None)


def list_comments(
    session: Session, version_id: int, *, limit: int = 100, offset: int = 0
) -> tuple[list[ReviewComment], int]:
    from app.services.mappings import get_version

    get_version(session, version_id)
    return repo.page_comments(session, version_id, limit=limit, offset=offset)
