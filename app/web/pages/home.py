"""Home and login pages (web layer): the first screen after login, and the password form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.web.auth import OptionalUser, ReadUser, _safe_next, is_first_login
from app.web.deps import SessionDep
from app.web.pages import _summaries
from app.web.pages._access import can_edit
from app.web.pages._getting_started import getting_started
from app.web.pages._render import page

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home_page(request: Request, session: SessionDep, user: ReadUser) -> Response:
    """Counts, recently edited mappings, and how to get started."""
    _, taxonomy_total = taxonomy_service.list_taxonomies(session, limit=1)
    rows, mapping_total = mapping_service.list_mappings(session, limit=500)
    summaries = _summaries.summarize_mappings(session, rows)
    recent = sorted(summaries, key=lambda s: s.updated_at, reverse=True)[:8]
    stats = {
        "taxonomies": taxonomy_total,
        "mappings": mapping_total,
        "pending_reviews": _summaries.count_pending_reviews(session),
        "approved": sum(1 for s in summaries if s.status == "approved"),
        "datasets": dataset_service.list_datasets(session, limit=1)[1],
        "models": model_service.list_models(session, limit=1)[1],
    }
    steps, demo_loaded = getting_started(session, stats)
    return page(
        request,
        "home.html",
        active_nav="home",
        stats=stats,
        recent=recent,
        steps=steps,
        demo_loaded=demo_loaded,
        can_edit=can_edit(user),
        first_login=is_first_login(request),
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    user: OptionalUser,
    next: Annotated[str, Query()] = "/",
    error: Annotated[int, Query()] = 0,
    expired: Annotated[int, Query()] = 0,
    retry_after: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """The sign-in form; it posts to ``POST /login`` (app.web.auth) with the CSRF token.

    ``retry_after=N`` (set by a throttled ``POST /login``) says how long sign-in is refused.
    """
    if user is not None and not (error or retry_after):
        return RedirectResponse(_safe_next(next), status_code=303)
    message = None
    if retry_after:
        message = f"Too many failed sign-in attempts. Try again in {retry_after} s."
    elif error:
        message = "Wrong user name or password."
    elif expired:
        message = "This login link is invalid, expired or already used."
    return page(
        request,
        "login.html",
        status_code=200,
        user=None,
        hide_sign_in=True,
        next_url=_safe_next(next),
        error=message,
        username="",
    )
