"""Version history, diff of any two versions, and restore-as-new-draft (web layer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.domain.errors import DomainError
from app.services import mappings as mapping_service
from app.services.mappings import StaleVersion
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_edit
from app.web.pages._editor_model import load_editor
from app.web.pages._history import group_versions, readable_messages
from app.web.pages._render import flash, page
from app.web.pages._summaries import user_names

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100


@router.get("/mappings/{mapping_id}/versions", response_class=HTMLResponse)
def mapping_versions_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReadUser,
    mapping_id: int,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """History (newest first) with author, time, message, status; pick two to diff; restore.

    One person's consecutive quick edits show as one expandable group (see ``_history``)."""
    m = load_editor(session, mapping_id, can_edit=can_edit(user))
    versions, total = mapping_service.list_versions(session, mapping_id, limit=PAGE_SIZE, offset=offset)
    names = user_names(session, [v.author_id for v in versions] + [v.reviewed_by_id for v in versions])
    numbers = {v.id: v.number for v in versions}
    return page(
        request,
        "mappings/versions.html",
        active_nav="mappings",
        m=m,
        versions=versions,
        groups=group_versions(versions, settings.history_group_window_s),
        messages=readable_messages(versions, m.target_names),
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        names=names,
        numbers=numbers,
    )


@router.get("/mappings/{mapping_id}/diff", response_class=HTMLResponse)
def mapping_diff_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: ReadUser,
    mapping_id: int,
    old: Annotated[int, Query(ge=1)],
    new: Annotated[int, Query(ge=1)],
) -> Response:
    """Edges added/removed per source label between versions ``old`` and ``new`` (numbers)."""
    m = load_editor(session, mapping_id, can_edit=can_edit(user))
    old_v = mapping_service.get_version_by_number(session, mapping_id, old)
    new_v = mapping_service.get_version_by_number(session, mapping_id, new)
    diff = mapping_service.diff_versions(session, old_version_id=old_v.id, new_version_id=new_v.id)
    low, high = sorted((old_v.number, new_v.number))
    latest, _ = mapping_service.list_versions(session, mapping_id, limit=1)
    # the versions after ``low`` up to ``high``: the steps this diff sums up (at most PAGE_SIZE shown)
    steps, _ = mapping_service.list_versions(
        session, mapping_id, limit=min(high - low, PAGE_SIZE), offset=latest[0].number - high
    )
    names = user_names(session, [old_v.author_id, new_v.author_id] + [v.author_id for v in steps])
    return page(
        request,
        "mappings/diff.html",
        active_nav="mappings",
        m=m,
        old=old_v,
        new=new_v,
        diff=diff,
        names=names,
        new_edges=mapping_service.version_edges(new_v),
        steps=group_versions(steps, settings.history_group_window_s),
        messages=readable_messages([old_v, new_v, *steps], m.target_names),
        step_count=high - low,
    )


@router.post("/mappings/{mapping_id}/versions/{number}/restore")
def mapping_restore_action(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    mapping_id: int,
    number: int,
    base_version: Annotated[int, Form()],
) -> Response:
    """A new draft version whose edges equal those of version ``number``; back to the editor."""
    try:
        old = mapping_service.get_version_by_number(session, mapping_id, number)
        new = mapping_service.restore_version(
            session, mapping_id=mapping_id, version_id=old.id, base_version_id=base_version, author=user
        )
    except StaleVersion:
        session.rollback()
        flash(
            request,
            "Not restored: the mapping changed meanwhile. Check the history and try again.",
            "warning",
        )
        return RedirectResponse(f"/mappings/{mapping_id}/versions", status_code=303)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/mappings/{mapping_id}/versions", status_code=303)
    if new.id == base_version:
        flash(
            request,
            f"Version {number} has the same edges as the current version; nothing to restore.",
            "info",
        )
    else:
        flash(request, f"Restored version {number} as new draft version {new.number}.")
    return RedirectResponse(f"/mappings/{mapping_id}", status_code=303)
