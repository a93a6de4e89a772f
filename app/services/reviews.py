"""Review of mapping versions (services layer): draft -> in_review -> approved | rejected, comments.

API (also re-exported by ``app.services.mappings``):
    submit_for_review(session, *, version_id, author, message=None) -> VersionRow
        draft or rejected -> in_review
    approve(session, *, version_id, reviewer, message=None, four_eyes="auto", acknowledged=()) -> VersionRow
        in_review -> approved; reviewer/admin only; refused while validation finds errors that make
        the prior wrong or errors not acknowledged (listed in the approval record), and
        refused to the version's author while the four-eyes rule is on (see ``four_eyes_active``).
        Approved versions are locked: their status never changes again (jobs pin them by hash).
    reject(session, *, version_id, reviewer, message=None) -> VersionRow
        in_review -> rejected; reviewer/admin only
    change_status(session, version, *, action, reviewer=None, self_approved=False) -> VersionRow
        the one place a version's status changes (compare-and-set, see below)
    four_eyes_active(session, mode) -> bool
    add_comment(session, *, version_id, author, body, source_name=None) -> ReviewComment
    list_comments(session, version_id, *, limit=100, offset=0) -> (list[ReviewComment], total)

Every status change is a compare-and-set on the status the caller read
(``UPDATE ... WHERE id = :id AND status = :expected``): of two racing decisions (approve and
reject, or two approvals) exactly one wins, the other gets a 409 naming the status it lost to, and
an approved version never changes because ``_TRANSITIONS`` has no exit from ``approved``.

Each review action is also recorded, by the winner only, as a ``ReviewComment`` with ``kind`` =
submit/approve/reject, or ``self_approve`` when the approver authored the version (allowed only
with the four-eyes rule off; the version's ``self_approved`` flag says the same).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.orm import Session

from app.config import FourEyes
from app.db import repositories as repo
from app.db.base import utcnow
from app.db.models import MappingVersion as VersionRow
from app.db.models import ReviewComment, User
from app.domain.errors import Conflict, InvalidInput, PermissionDenied
from app.services._mapping_core import get_version
from app.services.users import ROLES, has_role

_TRANSITIONS: dict[str, dict[str, str]] = {
    # action -> {from status: to status}; "approved" is no key anywhere: an approval is final.
    "submit": {"draft": "in_review", "rejected": "in_review"},
    "approve": {"in_review": "approved"},
    "reject": {"in_review": "rejected"},
}
_DECISIONS = ("approve", "reject")
REVIEWER_ROLES: tuple[str, ...] = ROLES[ROLES.index("reviewer") :]
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


def _status_conflict(version: VersionRow, action: str, *, lost_race: bool) -> Conflict:
    allowed = _TRANSITIONS[action]
    meanwhile = " (it changed while you were deciding)" if lost_race else ""
    return Conflict(
        f"version {version.number} is {version.status}{meanwhile}; cannot {action} it",
        field="status",
        details={"status": version.status, "allowed_from": sorted(allowed)},
    )


def change_status(
    session: Session,
    version: VersionRow,
    *,
    action: str,
    reviewer: User | None = None,
    self_approved: bool = False,
) -> VersionRow:
    """Apply ``action`` to ``version`` as a compare-and-set on the status read; the one status writer.

    Raises ``Conflict`` (409) naming the current status when the action is not allowed from it, or
    when another writer changed the status first (the row is re-read for the message).
    """
    allowed = _TRANSITIONS[action]
    expected = version.status
    if expected not in allowed:
        raise _status_conflict(version, action, lost_race=False)
    values: dict[str, Any] = {"status": allowed[expected]}
    if action in _DECISIONS:
        values.update(
            reviewed_by_id=reviewer.id if reviewer else None,
            reviewed_at=utcnow(),
            self_approved=self_approved,
        )
    won = repo.set_version_status(session, version.id, expected=expected, values=values)
    session.refresh(version)
    if not won:
        raise _status_conflict(version, action, lost_race=True)
    return version


def four_eyes_active(session: Session, mode: FourEyes) -> bool:
    """Whether an author may not approve their own version: ``on``, ``off``, or ``auto``.

    ``auto`` (the default) is on when more than one active account has the reviewer role or
    higher, and off on a single-user instance (where nobody else could ever approve).
    """
    if mode == "auto":
        return repo.count_active_users_with_roles(session, REVIEWER_ROLES) > 1
    return mode == "on"


def submit_for_review(
    session: Session, *, version_id: int, author: User | None, message: str | None = None
) -> VersionRow:
    version = change_status(session, get_version(session, version_id), action="submit")
    _record(session, version, author, "submit", message)
    return version


def _require_reviewer(user: User | None) -> None:
    if not has_role(user, "reviewer"):
        raise PermissionDenied("only reviewers and admins can approve or reject versions")


def _check_four_eyes(session: Session, version: VersionRow, mode: FourEyes) -> None:
    if not four_eyes_active(session, mode):
        return
    why = "" if mode == "on" else " (auto: more than one active account can review)"
    raise PermissionDenied(
        f"four-eyes rule: you authored version {version.number}, so another reviewer must approve it; "
        f"UNILABEL_FOUR_EYES={mode}{why}",
        field="reviewer",
        details={"rule": "four_eyes", "setting": "UNILABEL_FOUR_EYES", "mode": mode},
    )


def approve(
    session: Session,
    *,
    version_id: int,
    reviewer: User | None,
    message: str | None = None,
    four_eyes: FourEyes = "auto",
    acknowledged: Collection[str] = (),
) -> VersionRow:
    """in_review -> approved. A self-approval (the reviewer authored the version) needs the
    four-eyes rule off and is recorded as such (``self_approved``, comment kind ``self_approve``).

    Errors that make the prior wrong (``Finding.blocking``) refuse approval. Other errors (a cell
    naming no label: its edges were never stored) must each be acknowledged by key
    (``acknowledged``, see ``ValidationReport.to_acknowledge``); they are listed in the approval's
    record."""
    from app.services.mappings import validation_report

    _require_reviewer(reviewer)
    version = get_version(session, version_id)
    self_approval = reviewer is not None and version.author_id == reviewer.id
    if self_approval:
        _check_four_eyes(session, version, four_eyes)
    report = validation_report(session, version_id)
    if report.blocking:
        raise Conflict(
            f"the version has {len(report.blocking)} validation error(s) that make the prior wrong; "
            "fix them before approving",
            field="status",
            details={"validation": report.to_dict()},
        )
    acknowledged_keys = set(acknowledged)
    pending = [f for f in report.to_acknowledge if f.key not in acknowledged_keys]
    if pending:
        raise Conflict(
            f"the version has {len(pending)} finding(s) to acknowledge before approving: "
            + "; ".join(f.message for f in pending[:3]),
            field="acknowledged",
            details={"acknowledge": [f.key for f in pending], "validation": report.to_dict()},
        )
    change_status(session, version, action="approve", reviewer=reviewer, self_approved=self_approval)
    body = (message or "").strip()
    if report.to_acknowledge:
        listed = "\n".join(f"- {f.message}" for f in report.to_acknowledge)
        body = f"{body}\n\nAcknowledged findings:\n{listed}".strip()
    _record(session, version, reviewer, "self_approve" if self_approval else "approve", body)
    return version


def reject(
    session: Session, *, version_id: int, reviewer: User | None, message: str | None = None
) -> VersionRow:
    _require_reviewer(reviewer)
    version = change_status(session, get_version(session, version_id), action="reject", reviewer=reviewer)
    _record(session, version, reviewer, "reject", message)
    return version


def add_comment(
    session: Session, *, version_id: int, author: User | None, body: str, source_name: str | None = None
) -> ReviewComment:
    version = get_version(session, version_id)
    if not body.strip():
        raise InvalidInput("a comment must not be empty", field="body")
    if len(body) > MAX_COMMENT:
        raise InvalidInput(f"a comment has at most {MAX_COMMENT} characters", field="body")
    return _record(session, version, author, "comment", body, source_name or None)


def list_comments(
    session: Session, version_id: int, *, limit: int = 100, offset: int = 0
) -> tuple[list[ReviewComment], int]:
    get_version(session, version_id)
    return repo.page_comments(session, version_id, limit=limit, offset=offset)
