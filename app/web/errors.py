"""Exception handlers (web layer): one JSON error shape for the API, pages for browsers.

JSON (``/api/...`` and every non-HTML client)::

    {"error": {"code": str, "message": str, "field": str|None, "row": int|None,
               "column": int|None, "details": {...}}}

Browser navigation gets ``errors/<status>.html`` (falls back to ``errors/500.html`` / plain text),
HTMX requests get a toast (see ``app.web.htmx``), and an anonymous browser is redirected to
``/login?next=...``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import TemplateNotFound
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.domain.errors import DomainError
from app.web.htmx import is_htmx, render_toast

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "too_many_requests",
}


def wants_html(request: Request) -> bool:
    """Browser page requests (not the JSON API) get HTML errors."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "") or is_htmx(request)


def error_body(
    code: str,
    message: str,
    *,
    field: str | None = None,
    row: int | None = None,
    column: int | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "field": field,
            "row": row,
            "column": column,
            "details": details or {},
        }
    }


def _html_error(request: Request, status: int, message: str) -> Response:
    if is_htmx(request):
        return render_toast(request, message, "error", status_code=status)
    templates = getattr(request.app.state, "templates", None)
    for name in (f"errors/{status}.html", "errors/500.html" if status >= 500 else "errors/404.html"):
        if templates is None:
            break
        try:
            template = templates.get_template(name)
        except TemplateNotFound:
            continue
        try:
            body = template.render(request=request, status_code=status, message=message)
        except Exception:  # a broken error page must not hide the original error
            log.exception("rendering %s failed", name)
            break
        return HTMLResponse(body, status_code=status)
    return PlainTextResponse(f"{status}: {message}", status_code=status)


def respond(
    request: Request, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if wants_html(request):
        if status == 401 and not is_htmx(request):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        return _html_error(request, status, body["error"]["message"])
    return JSONResponse(body, status_code=status, headers=headers)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    body = {"error": exc.to_dict()}
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    return respond(request, exc.status_code, body, headers)


def _loc_to_field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form", "cookie")]
    if not parts:
        # The whole body (e.g. a list where an object belongs) or nothing at all.
        return str(loc[0]) if loc else None
    out = parts[0]
    for p in parts[1:]:
        out += f"[{p}]" if p.isdigit() else f".{p}"
    return out


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _loc_to_field(tuple(first.get("loc", ())))
    message = f"{field}: {first['msg']}" if field else str(first["msg"])
    details = {
        "errors": [
            {"field": _loc_to_field(tuple(e.get("loc", ()))), "message": e.get("msg"), "type": e.get("type")}
            for e in errors
        ]
    }
    return respond(request, 422, error_body("invalid_input", message, field=field, details=details))


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return respond(request, exc.status_code, error_body(code, message), dict(exc.headers or {}) or None)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return respond(request, 500, error_body("internal_error", "internal server error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, handle_domain_error)
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_error)
    app.add_exception_handler(Exception, handle_unexpected)
