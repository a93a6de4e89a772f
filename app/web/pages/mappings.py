"""Mapping list, creation, master_labels CSV import (with a preview) and export (web layer)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.domain.class_lists import TargetClassesDiffer
from app.domain.errors import DomainError
from app.domain.mapping import diff_mappings
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services.mapping_files import target_name_from_filename, target_outcome
from app.services.uploads import decode_upload
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.htmx import hx_redirect
from app.web.pages import _summaries
from app.web.pages._access import can_edit
from app.web.pages._editor_model import load_editor
from app.web.pages._render import flash, fragment, is_htmx, page, render_text

router = APIRouter(include_in_schema=False)

STATUS_FILTERS = ("", "draft", "in_review", "approved", "rejected")


def _filter_summaries(
    summaries: list[_summaries.MappingSummary], *, q: str, status: str
) -> list[_summaries.MappingSummary]:
    needle = q.strip().casefold()
    out = []
    for s in summaries:
        haystack = f"{s.name} {s.source_name} {s.target_name}".casefold()
        if needle and needle not in haystack:
            continue
        if status and s.status != status:
            continue
        out.append(s)
    return out


@router.get("/mappings", response_class=HTMLResponse)
def mapping_list_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    q: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query()] = "",
) -> Response:
    """All mappings: source → target, head status, validation badge, last editor."""
    rows, _ = mapping_service.list_mappings(session, limit=_summaries.MAX_LISTED)
    items = _filter_summaries(_summaries.summarize_mappings(session, rows), q=q, status=status)
    if is_htmx(request) and request.headers.get("HX-Target") == "mapping-list-body":
        return fragment(request, render_text(request, "mappings/_list_rows.html", items=items))
    return page(
        request,
        "mappings/list.html",
        active_nav="mappings",
        items=items,
        q=q,
        status=status,
        statuses=STATUS_FILTERS,
        can_edit=can_edit(user),
    )


def _taxonomy_options(session: Session) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(all taxonomies, class-list taxonomies usable as targets) as (id, label) options."""
    rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
    sources = [(t.id, f"{t.name} ({t.label_count} labels)") for t in rows]
    targets = [
        (t.id, f"{t.name} ({t.label_count} classes)")
        for t in rows
        if taxonomy_service.load_taxonomy(session, t.id).is_class_list()
    ]
    return sources, targets


def _new_page(request: Request, session: Session, *, status_code: int = 200, **context: Any) -> Response:
    sources, targets = _taxonomy_options(session)
    context.setdefault("form", {})
    context.setdefault("error", None)
    context.setdefault("import_error", None)
    context.setdefault("differ", None)
    return page(
        request,
        "mappings/new.html",
        status_code=status_code,
        active_nav="mappings",
        sources=sources,
        targets=targets,
        **context,
    )


@router.get("/mappings/new", response_class=HTMLResponse)
def mapping_new_page(request: Request, session: SessionDep, user: EditorUser) -> Response:
    """Create an empty mapping between two taxonomies, or import a master_labels CSV."""
    return _new_page(request, session)


@router.post("/mappings/new", response_class=HTMLResponse)
def mapping_create_page(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    name: Annotated[str, Form()],
    source_taxonomy_id: Annotated[int, Form()],
    target_taxonomy_id: Annotated[int, Form()],
    description: Annotated[str, Form()] = "",
) -> Response:
    form = {"name": name, "source_taxonomy_id": source_taxonomy_id, "target_taxonomy_id": target_taxonomy_id}
    try:
        row = mapping_service.create_mapping(
            session,
            name=name,
            source_taxonomy_id=source_taxonomy_id,
            target_taxonomy_id=target_taxonomy_id,
            author=user,
            description=description,
        )
    except DomainError as exc:
        session.rollback()
        return _new_page(request, session, status_code=exc.status_code, form=form, error=exc.message)
    flash(request, f"Created mapping {row.name!r} (version 1).")
    return RedirectResponse(f"/mappings/{row.id}", status_code=303)


@router.post("/mappings/import", response_class=HTMLResponse)
def mapping_import_new_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    source_taxonomy_id: Annotated[int, Form()],
    file: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form()] = "",
    filename: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    target_name: Annotated[str, Form()] = "",
    target_taxonomy_id: Annotated[int | None, Form()] = None,
    create_target: Annotated[bool, Form()] = False,
) -> Response:
    """Create a mapping (and, if new, its target taxonomy) from a master_labels CSV.

    A file whose target classes are close to a stored taxonomy's answers the card with the choice
    panel (use that taxonomy, or create a new one); its two forms post the text back with the choice.
    """
    form = {"source_taxonomy_id": source_taxonomy_id, "import_name": name, "target_name": target_name}
    if file is not None and file.filename:
        filename = file.filename
    try:
        if file is not None and file.filename:
            text = decode_upload(file.file.read(), max_bytes=settings.max_upload_bytes)
        elif not text:
            decode_upload(b"", max_bytes=settings.max_upload_bytes)  # raises "the file is empty"
        given = target_name.strip() or None
        result = mapping_service.import_master_labels(
            session,
            text=text,
            source_taxonomy_id=source_taxonomy_id,
            name=name.strip() or None,
            target_name=given or target_name_from_filename(filename),
            author=user,
            target_name_exact=given is not None,
            target_taxonomy_id=target_taxonomy_id,
            create_target=create_target,
        )
    except TargetClassesDiffer as exc:
        session.rollback()
        choice = {"source_taxonomy_id": source_taxonomy_id, "name": name, "filename": filename}
        differ = {
            "taxonomy": exc.details["closest_taxonomy"],
            "differences": exc.details["differences"],
            "text": text,
            "filename": filename,
            "form": {**choice, "target_name": target_name},
        }
        return _import_card(request, session, exc.status_code, form=form, differ=differ)
    except DomainError as exc:
        session.rollback()
        return _import_card(request, session, exc.status_code, form=form, import_error=_where(exc))
    report = result.report
    outcome = target_outcome(result) or ""
    flash(
        request,
        f"Imported {result.mapping.name!r}: {len(report.errors)} errors, {len(report.warnings)} warnings."
        + (f" {outcome[:1].upper()}{outcome[1:]}." if outcome else ""),
        "warning" if report.errors else "success",
    )
    return hx_redirect(request, f"/mappings/{result.mapping.id}")


def _import_card(request: Request, session: Session, status_code: int, **context: Any) -> Response:
    """The import card alone for HTMX (swapped even on a 4xx), else the whole "New mapping" page."""
    if not is_htmx(request):
        return _new_page(request, session, status_code=status_code, **context)
    context.setdefault("import_error", None)
    context.setdefault("differ", None)
    sources, _ = _taxonomy_options(session)
    html = render_text(request, "mappings/_import_card.html", sources=sources, **context)
    return fragment(request, html, status_code=status_code, retarget="#mapping-import", reswap="outerHTML")


def _where(exc: DomainError) -> str:
    """The error message with its location (row/column/field) when the error has one."""
    return str(exc)


@router.get("/mappings/{mapping_id}/import", response_class=HTMLResponse)
def mapping_import_page(request: Request, session: SessionDep, user: EditorUser, mapping_id: int) -> Response:
    """Upload a master_labels CSV as a new version of this mapping (preview first)."""
    m = load_editor(session, mapping_id, can_edit=True)
    return page(request, "mappings/import.html", active_nav="mappings", m=m, preview=None, error=None)


@router.post("/mappings/{mapping_id}/import", response_class=HTMLResponse)
def mapping_import_version_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    mapping_id: int,
    base_version: Annotated[int, Form()],
    file: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
) -> Response:
    """Step 1 (no ``confirm``): validate and show the report; step 2 (``confirm``): save the version."""
    try:
        if file is not None and file.filename:
            text = decode_upload(file.file.read(), max_bytes=settings.max_upload_bytes)
        elif not text:
            decode_upload(b"", max_bytes=settings.max_upload_bytes)  # raises "the file is empty"
        result = mapping_service.import_master_labels(
            session,
            text=text,
            mapping_id=mapping_id,
            base_version_id=base_version,
            author=user,
            message=message.strip() or None,
        )
    except DomainError as exc:
        session.rollback()
        m = load_editor(session, mapping_id, can_edit=True)
        return page(
            request,
            "mappings/import.html",
            status_code=exc.status_code,
            active_nav="mappings",
            m=m,
            preview=None,
            error=_where(exc),
            differences=exc.details.get("differences"),  # the target classes the file names otherwise
        )
    if confirm:
        flash(request, f"Imported as version {result.version.number}.")
        return RedirectResponse(f"/mappings/{mapping_id}", status_code=303)
    # Preview: the service ran inside this request's transaction; roll it back so nothing is saved.
    report = result.report
    # the edges the import would store (names the source taxonomy lacks are reported, not stored)
    new_edges = mapping_service.version_edges(result.version)
    session.rollback()
    m = load_editor(session, mapping_id, can_edit=True)
    diff = diff_mappings(m.edges, new_edges)
    return page(
        request,
        "mappings/import.html",
        active_nav="mappings",
        m=m,
        error=None,
        preview={"report": report, "text": text, "diff": diff, "new_edges": new_edges, "message": message},
    )


_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/mappings/{mapping_id}/export.csv")
def mapping_export_csv(
    session: SessionDep, user: ReadUser, mapping_id: int, version: Annotated[int | None, Query()] = None
) -> Response:
    """The head (or ``?version=N``) in the paper's master_labels CSV format, as a download."""
    mapping = mapping_service.get_mapping(session, mapping_id)
    row = (
        mapping_service.get_version_by_number(session, mapping_id, version)
        if version is not None
        else mapping_service.current_version(session, mapping_id)
    )
    text = mapping_service.export_master_labels(session, version_id=row.id)
    stem = _FILENAME_UNSAFE.sub("_", mapping.name).strip("_") or f"mapping_{mapping_id}"
    filename = f"master_labels_{stem}_v{row.number}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Hash": row.content_hash,
        },
    )
