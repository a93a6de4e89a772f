"""The FastAPI application (web layer): ``create_app(settings)`` wires routers, sessions, errors.

No engine exists at import time: ``create_app`` builds one from the given ``Settings`` and the
lifespan disposes of it. Tests pass their own settings; ``uvicorn --factory app.web.main:create_app``
uses the environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from app import queue
from app.config import REPO_ROOT, Settings, get_settings
from app.db.session import engine_from_settings, make_sessionmaker
from app.outbox import Relay
from app.services.limits import use_limits
from app.web import apidocs, auth
from app.web.api import router as api_router
from app.web.errors import install_error_handlers
from app.web.middleware import BodyLimitAndTiming
from app.web.pages import router as pages_router
from app.web.pages import templates as page_templates

STATIC_DIR = REPO_ROOT / "static"
# Multipart framing and form fields around an upload of max_upload_bytes.
UPLOAD_OVERHEAD_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web application for ``settings`` (default: from the environment)."""
    settings = settings or get_settings()
    settings.ensure_dirs()
    engine = engine_from_settings(settings)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        # One slot per pooled connection (see app.web.deps._db_slot); made inside the event loop.
        application.state.db_gate = anyio.Semaphore(application.state.db_capacity)
        # Publishes outbox messages whose after-commit send failed (broker down) or never ran.
        relay = Relay(engine, queue.publish, interval_s=settings.outbox_poll_s, name="unilabel-web-outbox")
        relay.start()
        yield
        await anyio.to_thread.run_sync(relay.stop)
        engine.dispose()

    app = FastAPI(
        title="unilabel",
        summary="Unify semantic-segmentation label taxonomies with ontology mappings and dataset priors.",
        version="0.1.0",
        lifespan=lifespan,
        # /docs and /redoc come from app.web.apidocs, with assets served here instead of a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = make_sessionmaker(engine)
    use_limits(app.state.session_factory, settings.limits)  # size limits seen by every service
    app.state.db_capacity = settings.db_pool_size + settings.db_max_overflow
    # One Jinja environment for pages and error pages (the pages package adds its globals/filters).
    app.state.templates = page_templates
    app.state.templates.env.globals.setdefault("csrf_token", auth.csrf_token)

    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.resolved_secret_key(),
        session_cookie="unilabel_session",
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=settings.cookie_secure,
    )
    # Outermost: the limit applies before the session cookie or any body is read.
    app.add_middleware(BodyLimitAndTiming, limit=settings.max_upload_bytes + UPLOAD_OVERHEAD_BYTES)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR), check_dir=False), name="static")
    app.include_router(api_router)
    app.include_router(apidocs.router)
    app.include_router(auth.router)
    app.include_router(pages_router)
    return app
