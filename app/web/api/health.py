"""Health endpoint (web layer): no authentication, for load balancers and the serve smoke test.

Besides the database check it reports which process answered (``pid``: several ``serve --workers``
share one port) and that process's connection pool (``db_pool``; ``checked_out`` includes the
connection of the health check itself).
"""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.db.session import pool_status
from app.services.system import database_ok
from app.web.api._responses import error_responses
from app.web.deps import SessionDep

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("unilabel")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


@router.get("/health", responses=error_responses(503))
def health(request: Request, session: SessionDep) -> JSONResponse:
    """Liveness and database reachability: 200 when healthy, 503 otherwise."""
    db = database_ok(session)
    body = {
        "status": "ok" if db else "degraded",
        "database": "ok" if db else "unreachable",
        "version": _version(),
        "pid": os.getpid(),
        "db_pool": {**pool_status(request.app.state.engine), "capacity": request.app.state.db_capacity},
    }
    return JSONResponse(body, status_code=200 if db else 503)
