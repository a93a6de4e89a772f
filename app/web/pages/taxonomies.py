"""Taxonomy pages (web layer): list + search, import (labels.csv / JSON), detail, label edits, export."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.db.models import User
from app.domain.errors import DomainError
from app.services import taxonomies as taxonomy_service
from app.services import taxonomy_files, taxonomy_labels
from app.services.uploads import decode_upload
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_edit
from app.web.pages._render import flash, fragment, is_htmx, page, render_text

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 200


def _list_page(
    request: Request,
    session: SessionDep,
    user: User | None,
    *,
    q: str = "",
    status_code: int = 200,
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    rows, total = taxonomy_service.list_taxonomies(session, limit=PAGE_SIZE, query=q or None)
    usage = {t.id: len(taxonomy_labels.mappings_using(session, t.id)) for t in rows}
    if is_htmx(request) and request.headers.get("HX-Target") == "taxonomy-rows":
        return fragment(request, render_text(request, "taxonomies/_rows.html", rows=rows, usage=usage))
    return page(
        request,
        "taxonomies/list.html",
        status_code=status_code,
        active_nav="taxonomies",
        rows=rows,
        total=total,
        usage=usage,
        q=q,
        can_edit=can_edit(user),
        error=error,
        form=form or {},
    )


@router.get("/taxonomies", response_class=HTMLResponse)
def taxonomy_list_page(
    request: Request, session: SessionDep, user: ReadUser, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """All taxonomies with search; editors get the import form."""
    return _list_page(request, session, user, q=q)


@router.post("/taxonomies/import", response_class=HTMLResponse)
def taxonomy_import_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    file: Annotated[UploadFile, File()],
    fmt: Annotated[Literal["labels_csv", "json"], Form()] = "labels_csv",
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    """Import a labels.csv or JSON file; errors re-render the form with the location of the problem."""
    form = {"name": name, "fmt": fmt, "description": description}
    try:
        text = decode_upload(file.file.read(), max_bytes=settings.max_upload_bytes)
        row, warnings = taxonomy_files.import_taxonomy_report(
            session, text=text, fmt=fmt, name=name.strip() or None, description=description or None
        )
    except DomainError as exc:
        session.rollback()
        return _list_page(request, session, user, status_code=exc.status_code, error=str(exc), form=form)
    if warnings:  # listed on the taxonomy's page, with rows and columns
        n = len(warnings)
        flash(
            request,
            f"Imported taxonomy {row.name!r} with {row.label_count} labels; the file has {n} "
            f"warning{'s' if n != 1 else ''} (listed on the page).",
            "warning",
        )
    else:
        flash(request, f"Imported taxonomy {row.name!r} with {row.label_count} labels.")
    return RedirectResponse(f"/taxonomies/{row.id}", status_code=303)


def _detail(
    request: Request, session: SessionDep, user: User | None, taxonomy_id: int, **extra: Any
) -> Response:
    row = taxonomy_service.get_taxonomy(session, taxonomy_id)
    taxonomy = taxonomy_service.to_domain(session, row)
    mappings = taxonomy_labels.mappings_using(session, taxonomy_id)
    generated = {
        lb.position for lb in taxonomy_service.list_labels(session, taxonomy_id) if lb.color_generated
    }
    extra.setdefault("guard", None)
    extra.setdefault("error", None)
    status_code = int(extra.pop("status_code", 200))
    return page(
        request,
        "taxonomies/detail.html",
        status_code=status_code,
        active_nav="taxonomies",
        row=row,
        taxonomy=taxonomy,
        mappings=mappings,
        generated=generated,
        file_warnings=taxonomy_files.file_warnings(session, row),
        can_edit=can_edit(user),
        **extra,
    )


@router.get("/taxonomies/{taxonomy_id}", response_class=HTMLResponse)
def taxonomy_detail_page(request: Request, session: SessionDep, user: ReadUser, taxonomy_id: int) -> Response:
    """Labels with colour swatches, the mappings that use the taxonomy, edit forms, export links."""
    return _detail(request, session, user, taxonomy_id)


@router.get("/taxonomies/{taxonomy_id}/labels/{position}/usage", response_class=HTMLResponse)
def taxonomy_label_usage_page(
    request: Request, session: SessionDep, user: ReadUser, taxonomy_id: int, position: int
) -> Response:
    """The delete guard: which mappings use this label (shown before a delete is offered)."""
    taxonomy = taxonomy_service.load_taxonomy(session, taxonomy_id)
    if not 0 <= position < len(taxonomy.labels):
        return _detail(request, session, user, taxonomy_id, error="No such label.", status_code=404)
    label = taxonomy.labels[position]
    guard = {
        "position": position,
        "label": label,
        "usage": taxonomy_labels.label_usage(session, taxonomy_id, label.name),
        "taxonomy_used": bool(taxonomy_labels.mappings_using(session, taxonomy_id)),
    }
    return _detail(request, session, user, taxonomy_id, guard=guard)


@router.post("/taxonomies/{taxonomy_id}", response_class=HTMLResponse)
def taxonomy_update_action(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    taxonomy_id: int,
    name: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
) -> Response:
    """Rename / re-describe the taxonomy."""
    return _run(
        request,
        session,
        user,
        taxonomy_id,
        "Saved.",
        lambda: taxonomy_service.update_taxonomy(
            session, taxonomy_id, name=name.strip(), description=description
        ),
    )


@router.post("/taxonomies/{taxonomy_id}/labels/{position}", response_class=HTMLResponse)
def taxonomy_label_update_action(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    taxonomy_id: int,
    position: int,
    name: Annotated[str, Form()],
    color: Annotated[str, Form()] = "",
    color_was: Annotated[str, Form()] = "",
) -> Response:
    """Recolour (always allowed) and/or rename (refused while mappings use the taxonomy)."""

    def run() -> object:
        current = taxonomy_service.load_taxonomy(session, taxonomy_id).labels[position]
        if color and color.lower() != color_was.lower():
            taxonomy_labels.recolor_label(session, taxonomy_id, position=position, color=color or None)
        if name != current.name:
            taxonomy_labels.rename_label(session, taxonomy_id, position=position, name=name)
        return None

    return _run(request, session, user, taxonomy_id, "Label saved.", run)


@router.post("/taxonomies/{taxonomy_id}/labels", response_class=HTMLResponse)
def taxonomy_label_add_action(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    taxonomy_id: int,
    value: Annotated[int, Form()],
    name: Annotated[str, Form()],
    color: Annotated[str, Form()] = "",
) -> Response:
    return _run(
        request,
        session,
        user,
        taxonomy_id,
        f"Added label {name!r}.",
        lambda: taxonomy_labels.add_label(session, taxonomy_id, value=value, name=name, color=color or None),
    )


@router.post("/taxonomies/{taxonomy_id}/labels/{position}/delete", response_class=HTMLResponse)
def taxonomy_label_delete_action(
    request: Request, session: SessionDep, user: EditorUser, taxonomy_id: int, position: int
) -> Response:
    return _run(
        request,
        session,
        user,
        taxonomy_id,
        "Label deleted.",
        lambda: taxonomy_labels.delete_label(session, taxonomy_id, position=position),
    )


def _run(
    request: Request,
    session: SessionDep,
    user: User | None,
    taxonomy_id: int,
    ok: str,
    action: Callable[[], object],
) -> Response:
    try:
        action()
    except (DomainError, IndexError) as exc:
        session.rollback()
        message = exc.message if isinstance(exc, DomainError) else "No such label."
        status = exc.status_code if isinstance(exc, DomainError) else 404
        return _detail(request, session, user, taxonomy_id, error=message, status_code=status)
    flash(request, ok)
    return RedirectResponse(f"/taxonomies/{taxonomy_id}", status_code=303)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/taxonomies/{taxonomy_id}/export")
def taxonomy_export_file(
    session: SessionDep,
    user: ReadUser,
    taxonomy_id: int,
    fmt: Annotated[Literal["labels_csv", "json"], Query()] = "labels_csv",
) -> Response:
    """Download as the paper's labels.csv or as JSON."""
    row = taxonomy_service.get_taxonomy(session, taxonomy_id)
    text = taxonomy_files.export_taxonomy(session, taxonomy_id, fmt=fmt)
    stem = _UNSAFE.sub("_", row.name).strip("_") or f"taxonomy_{taxonomy_id}"
    ext, media = ("csv", "text/csv") if fmt == "labels_csv" else ("json", "application/json")
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{stem}.{ext}"'},
    )
