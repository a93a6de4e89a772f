"""Mapping editor pages (web layer): rows and matrix views, one-edge edits, undo, conflicts.

Every edit is one HTMX POST carrying ``base_version`` (the id of the version the page shows). The
answer swaps nothing in place (``hx-swap="none"``); it sends out-of-band replacements for what
changed: the source row (rows view) or the cells and row header (matrix), the version state, the
validation panel, the Undo button and a toast. A stale base answers 409 with the conflict panel,
the current state of everything that changed since, and a button that re-applies the edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.db.models import MappingVersion as VersionRow
from app.domain.errors import DomainError, NotFound
from app.domain.mapping import VOID, MappingDiff
from app.domain.survey import DATA_MIN_SHARE
from app.services import mappings as mapping_service
from app.services.mapping_files import apply_suggestion
from app.services.mappings import StaleVersion
from app.services.unknown_sources import drop_unknown_source
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep
from app.web.pages._access import can_edit
from app.web.pages._editor_model import FILTERS, EditorModel, SourceRow, filter_rows, load_editor
from app.web.pages._render import Fragments, Toast, ToastAction, fragment, page, render_text, toast_response
from app.web.pages._summaries import user_names

router = APIRouter(include_in_schema=False)

Edge = tuple[str, int]
# The survey of the ghost chips' data evidence, carried back by every edit from ``#editor-state``
# (absent: the latest compatible survey); an unreadable id is a 422 naming the field.
SurveyForm = Annotated[int | None, Form(ge=1)]
SurveyQuery = Annotated[int | None, Query(ge=1)]
# Its data evidence floor (``data_min_share`` of the suggestions API), carried the same way.
DataShareForm = Annotated[float, Form(ge=0.0, le=1.0)]
DataShareQuery = Annotated[float, Query(ge=0.0, le=1.0)]


@dataclass(frozen=True, slots=True)
class ConflictInfo:
    """What the conflict panel shows: the user's edit and what others changed since its base."""

    op: str  # add | remove | undo
    source: str
    target: int
    base_number: int | None
    author: str | None
    diff: MappingDiff | None
    row: SourceRow | None


@dataclass(frozen=True, slots=True)
class EditContext:
    """An edit posted from the editor: its mapping, the version it was made on (``base_version``),
    and the editor state it carries from ``#editor-state``, which its answer renders with."""

    mapping_id: int
    base_version: int
    view: str
    survey_job_id: int | None
    data_min_share: float

    def editor(self, session: Session, version: VersionRow | None = None) -> EditorModel:
        """The editor at ``version`` (default: the head) in this edit's view, survey and floor."""
        return load_editor(
            session,
            self.mapping_id,
            can_edit=True,
            view=self.view,
            version=version,
            survey_job_id=self.survey_job_id,
            data_min_share=self.data_min_share,
        )


def _extras(session: Session, m: EditorModel) -> dict[str, Any]:
    """Context shared by the page and the edit answers: head author, whether undo is possible."""
    head = m.head
    anchor = head
    if head.restored_from_id is not None:
        try:
            anchor = mapping_service.get_version(session, head.restored_from_id)
        except NotFound:
            anchor = head
    author = user_names(session, [head.author_id]).get(head.author_id or -1)
    return {"author": author, "can_undo": anchor.parent_id is not None}


@router.get("/mappings/{mapping_id}", response_class=HTMLResponse)
def mapping_editor_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    mapping_id: int,
    view: Annotated[Literal["rows", "matrix"], Query()] = "rows",
    q: Annotated[str, Query(max_length=200)] = "",
    filter: Annotated[str, Query()] = "all",
    survey_job_id: SurveyQuery = None,
    data_min_share: DataShareQuery = DATA_MIN_SHARE,
) -> Response:
    """The editor: rows (chips + type-ahead) or matrix (click cells), with the validation panel;
    ``survey_job_id`` chooses the survey of the ghost chips' data evidence and of the Audit section."""
    m = load_editor(
        session,
        mapping_id,
        can_edit=can_edit(user),
        view=view,
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
    rows = filter_rows(m.rows, filter_key=filter, query=q)
    return page(
        request,
        "mappings/editor.html",
        active_nav="mappings",
        m=m,
        rows=rows,
        q=q,
        filter_key=filter if filter in dict(FILTERS) else "all",
        filters=FILTERS,
        conflict=None,
        survey_job_id=survey_job_id,
        **_extras(session, m),
    )


@router.get("/mappings/{mapping_id}/rows", response_class=HTMLResponse)
def mapping_rows_fragment(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    mapping_id: int,
    q: Annotated[str, Query(max_length=200)] = "",
    filter: Annotated[str, Query()] = "all",
    survey_job_id: SurveyQuery = None,
    data_min_share: DataShareQuery = DATA_MIN_SHARE,
) -> Response:
    """The rows view body for a filter and search text (``_rows.html``)."""
    m = load_editor(
        session,
        mapping_id,
        can_edit=can_edit(user),
        view="rows",
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
    rows = filter_rows(m.rows, filter_key=filter, query=q)
    return fragment(request, render_text(request, "mappings/_rows.html", m=m, rows=rows))


@router.get("/mappings/{mapping_id}/validation", response_class=HTMLResponse)
def mapping_validation_fragment(
    request: Request, session: SessionDep, user: ReadUser, mapping_id: int
) -> Response:
    """The validation panel of the head version (``_validation.html``)."""
    m = load_editor(session, mapping_id, can_edit=can_edit(user))
    return fragment(request, render_text(request, "mappings/_validation.html", m=m, oob=False))


def _changed_parts(
    request: Request, m: EditorModel, edges: list[Edge], parts: Fragments, fresh: Edge | None
) -> None:
    """Out-of-band replacements of the rows (or matrix cells) touched by ``edges``."""
    by_source: dict[str, set[int]] = {}
    for name, target in edges:
        by_source.setdefault(name, set()).add(target)
    for name, targets in by_source.items():
        row = m.row_by_name(name)
        if row is None:  # a name the source taxonomy lacks has no row (the validation panel shows it)
            continue
        if m.view == "rows":
            fresh_target = fresh[1] if fresh and fresh[0] == name else None
            parts.add(request, "mappings/_row.html", m=m, row=row, oob=True, fresh=fresh_target)
            continue
        by_id = {t.id: t for t in m.targets}
        for target in sorted(targets):
            if target in by_id:
                on = target in row.targets
                parts.add(request, "mappings/_edge.html", m=m, row=row, t=by_id[target], on=on, focus=False)


def _common_parts(
    request: Request, session: Session, m: EditorModel, parts: Fragments, *, clear_conflict: bool
) -> None:
    extras = _extras(session, m)
    parts.add(request, "mappings/_state.html", m=m, oob=True, **extras)
    parts.add(request, "mappings/_validation.html", m=m, oob=True)
    parts.add(request, "mappings/_undo.html", m=m, oob=True, **extras)
    if m.view == "rows":
        parts.add(request, "mappings/_counts.html", m=m, filters=FILTERS)
    if clear_conflict:
        parts.add(request, "mappings/_conflict.html", m=m, oob=True, conflict=None)


def _target_text(m: EditorModel, target: int) -> str:
    return "void" if target == VOID else f"{target} {m.target_names.get(target, '?')}"


def _undo_action(mapping_id: int) -> ToastAction:
    return ToastAction("Undo", f"/mappings/{mapping_id}/undo", {}, include="#editor-state")


def _conflict_answer(
    request: Request, session: Session, at: EditContext, op: str, source: str, target: int
) -> Response:
    """409: the conflict panel plus the current state of everything changed since the edit's base."""
    session.rollback()
    m = at.editor(session)
    diff: MappingDiff | None = None
    base_number: int | None = None
    try:
        base = mapping_service.get_version(session, at.base_version)
        if base.mapping_id == at.mapping_id:
            base_number = base.number
            diff = mapping_service.diff_versions(session, old_version_id=base.id, new_version_id=m.head.id)
    except NotFound:
        pass
    author = user_names(session, [m.head.author_id]).get(m.head.author_id or -1)
    info = ConflictInfo(op, source, target, base_number, author, diff, m.row_by_name(source))
    parts = Fragments().add(request, "mappings/_conflict.html", m=m, conflict=info, oob=False)
    changed: list[Edge] = list(diff.added + diff.removed) if diff else []
    if info.op != "undo":
        changed.append((info.source, info.target))
    _changed_parts(request, m, changed, parts, fresh=None)
    _common_parts(request, session, m, parts, clear_conflict=False)
    parts.toast(request, Toast(f"Not saved: version {m.head.number} was saved in the meantime.", "warning"))
    return fragment(request, parts, status_code=409, retarget="#conflict-panel", reswap="outerHTML")


def _refused(request: Request, session: Session, exc: DomainError) -> Response:
    """The service refused the edit: nothing is saved, the reason is a toast."""
    session.rollback()
    return toast_response(request, Toast(exc.message, "error"), status_code=exc.status_code)


def _edited(
    request: Request,
    session: Session,
    at: EditContext,
    new: VersionRow,
    edges: list[Edge],
    fresh: Edge | None,
) -> tuple[EditorModel, Fragments]:
    """The editor at the saved version ``new`` and the answer's parts so far: the rows (or cells)
    of ``edges``, the version state, validation panel and Undo button, the conflict panel cleared."""
    m = at.editor(session, new)
    parts = Fragments()
    _changed_parts(request, m, edges, parts, fresh=fresh)
    _common_parts(request, session, m, parts, clear_conflict=True)
    return m, parts


@router.post("/mappings/{mapping_id}/edges", response_class=HTMLResponse)
def mapping_edge_fragment(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    source: Annotated[str, Form()],
    target: Annotated[int, Form()],
    base_version: Annotated[int, Form()],
    op: Annotated[Literal["add", "remove", "toggle"], Form()] = "toggle",
    view: Annotated[Literal["rows", "matrix"], Form()] = "rows",
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """Add or remove one edge on top of ``base_version``; answers out-of-band swaps and a toast."""
    at = EditContext(mapping_id, base_version, view, survey_job_id, data_min_share)
    on = {"add": True, "remove": False}.get(op)
    try:
        before = mapping_service.get_version(session, base_version)
        was_on = (source, target) in mapping_service.version_edges(before).edges
        new = mapping_service.toggle_edge(
            session,
            mapping_id=mapping_id,
            source_name=source,
            target_id=target,
            base_version_id=base_version,
            author=user,
            on=on,
        )
    except StaleVersion:
        return _conflict_answer(request, session, at, op if op != "toggle" else "add", source, target)
    except DomainError as exc:
        return _refused(request, session, exc)
    # fresh marks the edge's chip; an edge now off has none
    m, parts = _edited(request, session, at, new, [(source, target)], fresh=(source, target))
    now_on = (source, target) in m.edges.edges
    if new.id == base_version or was_on == now_on:
        toast = Toast(
            f"No change: ‘{source}’ → {_target_text(m, target)} was already {'on' if now_on else 'off'}.",
            "info",
        )
    else:
        verb = "Mapped" if now_on else "Unmapped"
        toast = Toast(
            f"{verb} ‘{source}’ → {_target_text(m, target)} · saved as version {new.number}",
            "success",
            _undo_action(mapping_id),
        )
    return fragment(request, parts.toast(request, toast))


@router.post("/mappings/{mapping_id}/undo", response_class=HTMLResponse)
def mapping_undo_fragment(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    base_version: Annotated[int, Form()],
    view: Annotated[Literal["rows", "matrix"], Form()] = "rows",
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """Step back one edit (a new version equal to the previous one); swaps what changed."""
    at = EditContext(mapping_id, base_version, view, survey_job_id, data_min_share)
    try:
        new = mapping_service.undo(session, mapping_id=mapping_id, base_version_id=base_version, author=user)
        diff = mapping_service.diff_versions(session, old_version_id=base_version, new_version_id=new.id)
    except StaleVersion:
        return _conflict_answer(request, session, at, "undo", "", VOID)
    except DomainError as exc:
        return _refused(request, session, exc)
    m, parts = _edited(request, session, at, new, list(diff.added + diff.removed), fresh=None)
    n = len(diff.added) + len(diff.removed)
    toast = Toast(
        f"Undone ({n} edge{'s' if n != 1 else ''} changed) · saved as version {new.number}", "success"
    )
    return fragment(request, parts.toast(request, toast))


@router.post("/mappings/{mapping_id}/findings/apply", response_class=HTMLResponse)
def mapping_finding_fix_fragment(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    finding: Annotated[str, Form(max_length=1_000)],
    base_version: Annotated[int, Form()],
    view: Annotated[Literal["rows", "matrix"], Form()] = "rows",
    survey_job_id: SurveyForm = None,
    data_min_share: DataShareForm = DATA_MIN_SHARE,
) -> Response:
    """One click on a name the source taxonomy lacks: apply its suggestion (its targets move to the
    suggested label) or, without one, remove its stored edges. Swaps what changed, like an edit."""
    try:
        base = mapping_service.get_version(session, base_version)
        if base.mapping_id != mapping_id:
            raise NotFound(f"version {base_version} is not a version of mapping {mapping_id}")
        found = mapping_service.validation_report(session, base.id).find(finding)
        if found is not None and found.code == "unknown_source_name" and not found.fix and found.source_name:
            new = drop_unknown_source(session, version_id=base.id, source_name=found.source_name, author=user)
            done = f"Removed the edges of ‘{found.source_name}’"
        else:  # refuses anything but an unknown name with a suggestion (422)
            new = apply_suggestion(session, version_id=base.id, finding_key=finding, author=user)
            fixed = " and ".join(f"‘{n}’" for n in (found.fix if found else ()))
            done = f"Applied the suggestion: ‘{found.source_name if found else ''}’ → {fixed}"
        diff = mapping_service.diff_versions(session, old_version_id=base.id, new_version_id=new.id)
    except StaleVersion:
        session.rollback()
        msg = "Not applied: the mapping was saved in the meantime. Reload the page and try again."
        return toast_response(request, Toast(msg, "warning"), status_code=409)
    except DomainError as exc:
        return _refused(request, session, exc)
    at = EditContext(mapping_id, base_version, view, survey_job_id, data_min_share)
    m, parts = _edited(request, session, at, new, list(diff.added + diff.removed), fresh=None)
    toast = Toast(f"{done} · saved as version {new.number}", "success", _undo_action(mapping_id))
    return fragment(request, parts.toast(request, toast))
