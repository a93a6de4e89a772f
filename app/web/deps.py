"""FastAPI dependencies (web layer): settings, the per-request unit of work, templates, paging.

API:
    SettingsDep   -- the app's ``Settings`` (``request.app.state.settings``).
    SessionDep    -- a SQLAlchemy ``Session`` for this request. It commits after the handler returns
                     (before the response is sent, so a file or streamed body never holds a
                     connection) and then sends queued tasks; any exception rolls back. Services
                     only flush. A request first takes one of ``app.state.db_gate``'s slots (as many
                     as the pool has connections), so requests never wait for connections while
                     holding the threads that the requests owning them need (503 after
                     ``db_pool_timeout`` seconds without a slot).
    TemplatesDep  -- the ``Jinja2Templates`` of ``<repo>/templates``.
    PageDep       -- ``PageParams(limit, offset)`` from ``?limit=&offset=`` (limit 1..500, default 50).
    IdPath, IdQuery -- an id or version number in the path / an optional one in the query (1..2**31-1).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.session import pool_status, unit_of_work
from app.domain.text import INT32_MAX

log = logging.getLogger(__name__)


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def db_gate(request: Request) -> anyio.Semaphore:
    """The app's admission gate for database work (created on first use if the lifespan did not)."""
    gate: anyio.Semaphore | None = getattr(request.app.state, "db_gate", None)
    if gate is None:
        gate = request.app.state.db_gate = anyio.Semaphore(request.app.state.db_capacity)
    return gate


async def _db_slot(request: Request) -> AsyncIterator[None]:
    """Hold one database slot from before the session opens until after it closes.

    Sync dependencies and handlers of one request run in *different* worker threads, and the
    session keeps its connection between them. Without the gate, more requests than the pool has
    connections could take every thread while waiting for a connection, and the requests holding
    the connections would then wait for a thread: a stall that ends in pool timeouts. Waiting here
    is async and holds neither a thread nor a connection.
    """
    gate = db_gate(request)
    timeout = float(request.app.state.settings.db_pool_timeout)
    try:
        with anyio.fail_after(timeout):
            await gate.acquire()
    except TimeoutError:
        log.warning(
            "no database slot free for %.0f s; pool %s", timeout, pool_status(request.app.state.engine)
        )
        raise HTTPException(503, "the server is busy; retry shortly", headers={"Retry-After": "2"}) from None
    try:
        yield
    finally:
        gate.release()


def get_session(
    request: Request, _slot: Annotated[None, Depends(_db_slot, scope="function")]
) -> Iterator[Session]:
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
    offset: Annotated[int, Query(ge=0, le=INT32_MAX, description="Rows to skip")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": commit before the response goes out, so a commit error becomes a 500 response
# and a client that reads right after a write sees its own change.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
PageDep = Annotated[PageParams, Depends(get_page_params)]
# Ids and version numbers in paths and queries fit the INTEGER columns (422 otherwise, not a 500).
IdPath = Annotated[int, Path(ge=1, le=INT32_MAX)]
IdQuery = Annotated[int | None, Query(ge=1, le=INT32_MAX)]
