"""Review workflow pages (web layer): inbox, pending badge, review of a version, comments, decisions.

Editors submit a version with a message; reviewers see its diff against the last approved version,
comment per source label, and approve or reject (the service refuses approval while validation
finds errors). Approved versions are locked. Role rules are enforced by the dependencies
(``EditorUser``/``ReviewerUser``) and again by the services.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.db.models import MappingVersion as VersionRow
from app.domain.errors import DomainError
from app.domain.mapping import OntologyMapping, diff_mappings
from app.services import mappings as mapping_service
from app.services import reviews as review_service
from app.services.mapping_files import apply_suggestion
from app.web.auth import EditorUser, OptionalUser, ReadUser, ReviewerUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages import _summaries
from app.web.pages._access import can_edit, can_review
from app.web.pages._editor_model import load_editor
from app.web.pages._history import readable_message
from app.web.pages._render import Fragments, flash, fragment, is_htmx, page, render_text

router = APIRouter(include_in_schema=False)


@router.get("/reviews/badge", response_class=HTMLResponse)
def review_badge_fragment(request: Request, session: SessionDep, user: OptionalUser) -> Response:
    """The nav badge with the number of versions waiting for review (polled by base.html)."""
    count = _summaries.count_pending_reviews(session) if user is not None else 0
    return fragment(request, render_text(request, "partials/_review_badge.html", count=count))


@router.get("/reviews", response_class=HTMLResponse)
def review_inbox_page(request: Request, session: SessionDep, user: ReadUser) -> Response:
    """Versions waiting for review, oldest first."""
    pending = _summaries.pending_reviews(session)
    return page(
        request, "mappings/reviews.html", active_nav="reviews", pending=pending, can_review=can_review(user)
    )


def _review_version(session: Session, mapping_id: int, number: int | None) -> VersionRow:
    """``?version=N``, else the newest version in review, else the head."""
    if number is not None:
        return mapping_service.get_version_by_number(session, mapping_id, number)
    in_review, _ = mapping_service.list_versions(session, mapping_id, status="in_review", limit=1)
    return in_review[0] if in_review else mapping_service.current_version(session, mapping_id)


def _last_approved(session: Session, mapping_id: int, before: VersionRow) -> tuple[VersionRow | None, int]:
    """The newest approved version older than ``before`` (the diff's base), and how many versions
    of the mapping are approved (``before`` included): the page says "no approved version yet"
    only when there is none."""
    approved, total = mapping_service.list_versions(session, mapping_id, status="approved", limit=500)
    older = [v for v in approved if v.number < before.number]
    return (older[0] if older else None), total


@router.get("/mappings/{mapping_id}/review", response_class=HTMLResponse)
def mapping_review_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReadUser,
    mapping_id: int,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    """One version under review: diff against the last approved version, comments, decisions."""
    v = _review_version(session, mapping_id, version)
    m = load_editor(session, mapping_id, can_edit=can_edit(user), version=v)
    base, approved_count = _last_approved(session, mapping_id, v)
    base_edges = mapping_service.version_edges(base) if base else OntologyMapping(frozenset())
    diff = diff_mappings(base_edges, m.edges)
    comments, _ = mapping_service.list_comments(session, v.id, limit=1000)
    names = _summaries.user_names(session, [c.author_id for c in comments] + [v.author_id, v.reviewed_by_id])
    by_source: dict[str, list[object]] = {}
    general: list[object] = []
    for c in comments:
        (by_source.setdefault(c.source_name, []) if c.source_name else general).append(c)
    head = mapping_service.current_version(session, mapping_id)
    own = user is not None and v.author_id == user.id and can_review(user)
    return page(
        request,
        "mappings/review.html",
        active_nav="reviews",
        m=m,
        v=v,
        head=head,
        base=base,
        approved_count=approved_count,
        version_message=readable_message(v.message, m.target_names),
        unmapped=[f.source_name for f in m.report.by_code("unmapped_source") if f.severity == "warning"],
        unmapped_absent=[f.source_name for f in m.report.by_code("unmapped_source") if f.severity == "info"],
        diff=diff,
        comments_by_source=by_source,
        general=general,
        names=names,
        slots={d.source_name: comment_slot(d.source_name) for d in diff.by_source},
        submission=next((c for c in reversed(comments) if c.kind == "submit"), None),
        can_review=can_review(user),
        can_comment=can_edit(user),
        own_version=own,
        own_version_blocked=own and review_service.four_eyes_active(session, settings.four_eyes),
    )


def comment_slot(source_name: str) -> str:
    """A DOM-safe id part for the comments of one source label."""
    return "s" + hashlib.sha1(source_name.encode("utf-8")).hexdigest()[:12]


def _back(mapping_id: int, number: int) -> RedirectResponse:
    return RedirectResponse(f"/mappings/{mapping_id}/review?version={number}", status_code=303)


def _decide(
    request: Request,
    session: Session,
    *,
    mapping_id: int,
    number: int,
    action: str,
    run: Callable[[VersionRow], None],
) -> Response:
    try:
        v = mapping_service.get_version_by_number(session, mapping_id, number)
        run(v)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return _back(mapping_id, number)
    flash(request, f"Version {number} {action}.")
    return _back(mapping_id, number)


@router.post("/mappings/{mapping_id}/versions/{number}/submit")
def mapping_submit_action(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    number: int,
    message: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Draft or rejected → in review, with a message for the reviewer."""

    def run(v: VersionRow) -> None:
        mapping_service.submit_for_review(session, version_id=v.id, author=user, message=message)

    return _decide(
        request, session, mapping_id=mapping_id, number=number, action="submitted for review", run=run
    )


@router.post("/mappings/{mapping_id}/versions/{number}/decision")
def mapping_decision_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReviewerUser,
    mapping_id: int,
    number: int,
    decision: Annotated[Literal["approve", "reject"], Form()],
    message: Annotated[str, Form(max_length=10_000)] = "",
    acknowledged: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """In review → approved (locked) or rejected; reviewers and admins only (four-eyes rule).

    ``acknowledged``: the keys of the listed harmless errors the reviewer ticked (recorded)."""

    def run(v: VersionRow) -> None:
        if decision == "approve":
            mapping_service.approve(
                session,
                version_id=v.id,
                reviewer=user,
                message=message,
                four_eyes=settings.four_eyes,
                acknowledged=acknowledged or (),
            )
        else:
            mapping_service.reject(session, version_id=v.id, reviewer=user, message=message)

    action = "approved and locked" if decision == "approve" else "rejected"
    return _decide(request, session, mapping_id=mapping_id, number=number, action=action, run=run)


@router.post("/mappings/{mapping_id}/versions/{number}/apply-suggestion")
def mapping_apply_suggestion_action(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    number: int,
    finding: Annotated[str, Form(max_length=1_000)],
) -> Response:
    """One-click fix of an unknown name ("did you mean 'sky'?"): a new draft version on the head."""
    try:
        v = mapping_service.get_version_by_number(session, mapping_id, number)
        fixed = apply_suggestion(session, version_id=v.id, finding_key=finding, author=user)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return _back(mapping_id, number)
    flash(request, f"Suggestion applied: version {fixed.number} is a new draft ({fixed.message}).")
    return _back(mapping_id, fixed.number)


@router.post("/mappings/{mapping_id}/versions/{number}/comments", response_class=HTMLResponse)
def mapping_comment_fragment(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    number: int,
    body: Annotated[str, Form(max_length=10_000)],
    source_name: Annotated[str, Form()] = "",
    slot: Annotated[str, Form(pattern=r"^[a-z0-9-]{1,40}$")] = "general",
) -> Response:
    """Add a comment (optionally about one source label); HTMX gets the refreshed comment list."""
    try:
        v = mapping_service.get_version_by_number(session, mapping_id, number)
        mapping_service.add_comment(
            session, version_id=v.id, author=user, body=body, source_name=source_name or None
        )
    except DomainError as exc:
        session.rollback()
        if not is_htmx(request):
            flash(request, exc.message, "error")
            return _back(mapping_id, number)
        raise
    if not is_htmx(request):
        flash(request, "Comment added.")
        return _back(mapping_id, number)
    comments, _ = mapping_service.list_comments(session, v.id, limit=1000)
    mine = [c for c in comments if (c.source_name or "") == source_name]
    names = _summaries.user_names(session, [c.author_id for c in mine])
    parts = Fragments().add(
        request,
        "mappings/_comments.html",
        comments=mine,
        names=names,
        slot=slot,
        source_name=source_name,
        mapping_id=mapping_id,
        number=number,
        can_comment=True,
    )
    return fragment(request, parts)
