"""FastAPI dependencies (web layer): settings, the per-request unit of work, templates, paging.

API:
    SettingsDep   -- the app's ``Settings`` (``request.app.state.settings``).
    SessionDep    -- a SQLAlchemy ``Session`` for this request. It commits after the handler returns
                     (before the response is sent) and then sends queued tasks; any exception rolls
                     back. Services only flush.
    TemplatesDep  -- the ``Jinja2Templates`` of ``<repo>/templates``.
    PageDep       -- ``PageParams(limit, offset)`` from ``?limit=&offset=`` (limit 1..500, default 50).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.session import unit_of_work


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    with unit_of_work(request.app.state.session_factory) as session:
        yield session


async def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def get_page_params(
    limit: Annotated[int, Query(ge=1, le=500, description="Page size")] = 50,
    offset: Annotated[int, Query(ge=0, description="Rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response goes out, so a commit error becomes a 500 response
# and a client that reads right after a write sees its own change.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
PageDep = Annotated[PageParams, Depends(get_page_params)]
