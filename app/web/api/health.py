"""Health endpoint (web layer): no authentication, for load balancers and the serve smoke test."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.services.system import database_ok
from app.web.deps import SessionDep

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("unilabel")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "0+unknown"


@router.get("/health")
def health(session: SessionDep) -> JSONResponse:
    """Liveness and database reachability: 200 when healthy, 503 otherwise."""
    db = database_ok(session)
    body = {
        "status": "ok" if db else "degraded",
        "database": "ok" if db else "unreachable",
        "version": _version(),
    }
    return JSONResponse(body, status_code=200 if db else 503)
