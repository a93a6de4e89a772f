"""Suggested edges in the mapping editor (web layer): ghost chips accepted or rejected, "accept all
with score ≥ x" and "Draft from evidence" behind a preview.

Accepting is an ordinary edit (one version, message "accepted suggestion: …"); its answer is the
same as a chip edit's (``app.web.pages.mapping_editor``): out-of-band rows, version state,
validation panel, Undo and a toast, and a stale base answers 409 with the conflict panel. The bulk
actions first show a preview (``#suggestion-panel``: the edges that would be added) whose Confirm
posts exactly those edges with the base version; a stale base answers 409 with a fresh preview.
A rejection is remembered per mapping (no version); its toast offers Undo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.errors import DomainError
from app.domain.mapping import VOID
from app.domain.survey import DATA_MIN_SHARE
from app.services import mappings as mapping_service
from app.services import suggestion_edits
from app.services import suggestions as suggestion_service
from app.services.mappings import StaleVersion
from app.web.auth import EditorUser
from app.web.deps import SessionDep
from app.web.pages._editor_model import DEFAULT_ACCEPT_MIN, DEFAULT_DRAFT_MIN, EditorModel, load_editor
from app.web.pages._render import Fragments, Toast, ToastAction, fragment, toast_response
from app.web.pages.mapping_editor import (
    DataShareForm,
    DataShareQuery,
    EditContext,
    SurveyForm,
    SurveyQuery,
    _changed_parts,
    _common_parts,
    _conflict_answer,
    _edited,
    _refused,
    _target_text,
    _undo_action,
)

router = APIRouter(include_in_schema=False)

Kind = Literal["accept_all", "draft"]
Score = Annotated[float, Query(ge=0.0, le=1.0)]
ScoreForm = Annotated[float, Form(ge=0.0, le=1.0)]
Keys = Annotated[list[str], Form(max_length=10_000)]
Key = Annotated[str, Form(max_length=1_000)]
View = Annotated[Literal["rows", "matrix"], Form()]


def _preview_items(m: EditorModel, kind: Kind, min_score: float) -> list[tuple[str, int, str, float | None]]:
    """(source, target, target name, score or None for a void fallback) the confirm would write."""
    if kind == "accept_all":
        return [(s.source_name, s.target, s.target_name, s.score) for s in m.all_ghosts(min_score)]
    out: list[tuple[str, int, str, float | None]] = []
    for row in m.rows:
        ranked = m.suggestions.get(row.name, ())
        best = ranked[0] if ranked and ranked[0].score >= min_score else None
        if best is None:
            out.append((row.name, VOID, "void", None))
        else:
            out.append((row.name, best.target, best.target_name, best.score))
    return out


def _preview(
    request: Request, m: EditorModel, kind: Kind, min_score: float, *, note: str = "", oob: bool = False
) -> Fragments:
    items = _preview_items(m, kind, min_score) if kind == "accept_all" or not m.head.edge_count else []
    return Fragments().add(
        request,
        "mappings/_suggestions.html",
        m=m,
        kind=kind,
        min_score=min_score,
        items=items,
        note=note,
        oob=oob,
    )


@router.get("/mappings/{mapping_id}/suggestions/accept-all", response_class=HTMLResponse)
def accept_all_preview(
    request: Request,
    session: SessionDep,
    _user: EditorUser,
    mapping_id: int,
    min_score: Score = DEFAULT_ACCEPT_MIN,
    survey_job_id: SurveyQuery = None,
    data_min_share: DataShareQuery = DATA_MIN_SHARE,
) -> Response:
    """Preview: the suggested edges scoring ``min_score`` or more that Confirm would add."""
    m = load_editor(
        session, mapping_id, can_edit=True, survey_job_id=survey_job_id, data_min_share=data_min_share
    )
    return fragment(request, _preview(request, m, "accept_all", min_score))


@router.get("/mappings/{mapping_id}/suggestions/draft", response_class=HTMLResponse)
def draft_preview(
    request: Request,
    session: SessionDep,
    _user: EditorUser,
    mapping_id: int,
    min_score: Score = DEFAULT_DRAFT_MIN,
    survey_job_id: SurveyQuery = None,
    data_min_share: DataShareQuery = DATA_MIN_SHARE,
) -> Response:
    """Preview of a first version from evidence: each label's best suggestion, or void."""
    m = load_editor(
        session, mapping_id, can_edit=True, survey_job_id=survey_job_id, data_min_share=data_min_share
    )
    return fragment(request, _preview(request, m, "draft", min_score))


def _saved_answer(
    request: Request,
    session: Session,
    mapping_id: int,
    base_version: int,
    new: VersionRow,
    done: str,
    survey_job_id: int | None,
    data_min_share: float,
) -> Response:
    """What changed since ``base_version`` (rows, state, panel, Undo), the preview closed, a toast."""
    m = load_editor(
        session,
        mapping_id,
        can_edit=True,
        version=new,
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
    parts = Fragments()
    if new.id == base_version:
        toast = Toast("No change: the mapping already has these edges.", "info")
    else:
        diff = mapping_service.diff_versions(session, old_version_id=base_version, new_version_id=new.id)
        _changed_parts(request, m, list(diff.added + diff.removed), parts, fresh=None)
        toast = Toast(f"{done} · saved as version {new.number}", "success", _undo_action(mapping_id))
    _common_parts(request, session, m, parts, clear_conflict=True)
    parts.add(request, "mappings/_suggestions.html", m=m, kind=None, items=[], note="", oob=True)
    parts.add(request, "mappings/_suggestion_bar.html", m=m, oob=True)
    return fragment(request, parts.toast(request, toast))


def _stale_answer(
    request: Request,
    session: Session,
    mapping_id: int,
    kind: Kind,
    min_score: float,
    survey_job_id: int | None,
    data_min_share: float,
) -> Response:
    """409: a fresh preview on the current version, and the editor brought up to date."""
    session.rollback()
    m = load_editor(
        session, mapping_id, can_edit=True, survey_job_id=survey_job_id, data_min_share=data_min_share
    )
    note = f"Not saved: version {m.head.number} was saved in the meantime. Check the preview again."
    parts = _preview(request, m, kind, min_score, note=note)
    _changed_parts(request, m, [(r.name, VOID) for r in m.rows], parts, fresh=None)
    _common_parts(request, session, m, parts, clear_conflict=False)
    parts.toast(request, Toast(note, "warning"))
    return fragment(request, parts, status_code=409, retarget="#suggestion-panel", reswap="outerHTML")


@dataclass(frozen=True, slots=True)
class BulkForm:
    """What a preview's Confirm posts: the previewed keys, its threshold, base version and survey
    (with its data evidence floor)."""

    keys: list[str]
    min_score: float
    base_version: int
    survey_job_id: int | None
    data_min_share: float


def _bulk_form(
    keys: Keys,
    min_score: ScoreForm,
    base_version: Annotated[int, Form()],
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> BulkForm:
    return BulkForm(keys, min_score, base_version, survey_job_id, data_min_share)


Bulk = Annotated[BulkForm, Depends(_bulk_form)]


def _confirm(
    request: Request,
    session: Session,
    user: User,
    mapping_id: int,
    kind: Kind,
    form: BulkForm,
) -> Response:
    """Write a previewed bulk action (``kind``) in one version; a stale base gets a fresh preview."""
    write = suggestion_edits.draft_from_evidence if kind == "draft" else suggestion_edits.accept_suggestions
    try:
        new = write(
            session,
            mapping_id,
            keys=form.keys,
            min_score=form.min_score,
            base_version_id=form.base_version,
            author=user,
        )
    except StaleVersion:
        return _stale_answer(
            request, session, mapping_id, kind, form.min_score, form.survey_job_id, form.data_min_share
        )
    except DomainError as exc:
        session.rollback()
        return toast_response(request, Toast(exc.message, "error"), status_code=exc.status_code)
    if kind == "draft":
        done = "Drafted from evidence"
    else:
        n = len(set(form.keys))
        done = f"Accepted {n} suggestion{'s' if n != 1 else ''} with score ≥ {form.min_score:.2f}"
    return _saved_answer(
        request, session, mapping_id, form.base_version, new, done, form.survey_job_id, form.data_min_share
    )


@router.post("/mappings/{mapping_id}/suggestions/accept-all", response_class=HTMLResponse)
def accept_all_confirm(
    request: Request, session: SessionDep, user: EditorUser, mapping_id: int, form: Bulk
) -> Response:
    """Add the previewed suggestions in one version."""
    return _confirm(request, session, user, mapping_id, "accept_all", form)


@router.post("/mappings/{mapping_id}/suggestions/draft", response_class=HTMLResponse)
def draft_confirm(
    request: Request, session: SessionDep, user: EditorUser, mapping_id: int, form: Bulk
) -> Response:
    """Write the previewed draft as the mapping's first full version."""
    return _confirm(request, session, user, mapping_id, "draft", form)


@router.post("/mappings/{mapping_id}/suggestions/accept", response_class=HTMLResponse)
def accept_one(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    key: Key,
    base_version: Annotated[int, Form()],
    view: View = "rows",
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """Accept one ghost chip: the edge is added like a chip edit, with its own version message."""
    at = EditContext(mapping_id, base_version, view, survey_job_id, data_min_share)
    try:
        name, target = suggestion_service.parse_key(key)
        new = suggestion_edits.accept_suggestion(
            session, mapping_id, key=key, base_version_id=base_version, author=user
        )
    except StaleVersion:
        return _conflict_answer(request, session, at, "add", name, target)
    except DomainError as exc:
        return _refused(request, session, exc)
    m, parts = _edited(request, session, at, new, [(name, target)], fresh=(name, target))
    if new.id == base_version:
        toast = Toast(f"No change: ‘{name}’ → {_target_text(m, target)} was already on.", "info")
    else:
        toast = Toast(
            f"Accepted suggestion ‘{name}’ → {_target_text(m, target)} · saved as version {new.number}",
            "success",
            _undo_action(mapping_id),
        )
    return fragment(request, parts.toast(request, toast))


def _rejection_answer(
    request: Request,
    session: Session,
    mapping_id: int,
    key: str,
    view: str,
    survey_job_id: int | None,
    data_min_share: float,
    *,
    rejected: bool,
) -> Response:
    """The row without (or, after Undo, with) the ghost chip, and a toast."""
    name, target = suggestion_service.parse_key(key)
    m = load_editor(
        session,
        mapping_id,
        can_edit=True,
        view=view,
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
    parts = Fragments()
    _changed_parts(request, m, [(name, target)], parts, fresh=None)
    if rejected:
        url = f"/mappings/{mapping_id}/suggestions/unreject"
        undo = ToastAction("Undo", url, {"key": key}, include="#editor-state")
        text = f"Rejected suggestion ‘{name}’ → {_target_text(m, target)}: not suggested here again"
        toast = Toast(text, "success", undo)
    else:
        toast = Toast(f"‘{name}’ → {_target_text(m, target)} may be suggested again", "info")
    return fragment(request, parts.toast(request, toast))


@router.post("/mappings/{mapping_id}/suggestions/reject", response_class=HTMLResponse)
def reject_one(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    key: Key,
    view: View = "rows",
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """Reject a ghost chip: it is not suggested for this mapping again (no new version)."""
    try:
        suggestion_service.reject_suggestion(session, mapping_id, key=key, author=user)
    except DomainError as exc:
        session.rollback()
        return toast_response(request, Toast(exc.message, "error"), status_code=exc.status_code)
    return _rejection_answer(
        request, session, mapping_id, key, view, survey_job_id, data_min_share, rejected=True
    )


@router.post("/mappings/{mapping_id}/suggestions/unreject", response_class=HTMLResponse)
def unreject_one(
    request: Request,
    session: SessionDep,
    _user: EditorUser,
    mapping_id: int,
    key: Key,
    view: View = "rows",
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """Forget a rejection (the toast's Undo): the ghost chip comes back."""
    try:
        suggestion_service.unreject_suggestion(session, mapping_id, key=key)
    except DomainError as exc:
        session.rollback()
        return toast_response(request, Toast(exc.message, "error"), status_code=exc.status_code)
    return _rejection_answer(
        request, session, mapping_id, key, view, survey_job_id, data_min_share, rejected=False
    )
