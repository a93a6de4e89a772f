"""The error statuses each API operation documents in OpenAPI (web layer).

Rather than a hand-kept list per route, :func:`document_error_responses` derives them from what a
route can run into, so a new route is documented the moment it is added:

- 422 on every operation (parameters, bodies, NUL bytes or over-long values in paths);
- 401 and 403 when a dependency of the route comes from :mod:`app.web.auth`;
- 404 when the path has parameters or the request has a body (bodies name other rows by id);
- 409 on every write (POST/PUT/PATCH/DELETE): duplicate names, stale bases, rows in use, states;
- 413 when the request has a body (the limit of :mod:`app.web.middleware`), 400 for form bodies
  (malformed multipart);
- 503 on every operation (no database connection free in time, or the database unreachable).

Every error uses the JSON shape of :class:`app.schemas.common.ErrorBody`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.schemas.common import ErrorBody

DESCRIPTIONS = {
    400: "Malformed request body (e.g. broken multipart framing)",
    401: "Not authenticated: log in or send `Authorization: Bearer <token>`",
    403: "Authenticated, but the role is too low (or a cookie write lacks its CSRF token)",
    404: "A row named by the path or the body does not exist",
    409: "Conflict: duplicate name, stale base version, row in use, or a state that forbids this",
    413: "The request body is larger than UNILABEL_MAX_UPLOAD_BYTES (plus form overhead)",
    422: "Invalid input: `error.field` (and `row`/`column` for files) names what is wrong",
    503: "The server is busy (no database connection free in time) or the database is unreachable",
}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
AUTH_MODULE = "app.web.auth"


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``codes``, each with the shared error body."""
    return {code: {"model": ErrorBody, "description": DESCRIPTIONS[code]} for code in codes}


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _dependencies(dep)


def _codes(route: APIRoute) -> list[int]:
    dependant = route.dependant
    deps = list(_dependencies(dependant))
    has_body = bool(dependant.body_params) or any(d.body_params for d in deps)
    is_form = any(
        type(p.field_info).__name__ in ("Form", "File") for d in (dependant, *deps) for p in d.body_params
    )
    authed = any(getattr(d.call, "__module__", None) == AUTH_MODULE for d in deps)
    codes = [422, 503]
    if authed:
        codes += [401, 403]
    if dependant.path_params or has_body:
        codes.append(404)
    if (route.methods or set()) & WRITE_METHODS:
        codes.append(409)
    if has_body:
        codes.append(413)
    if is_form:
        codes.append(400)
    return sorted(codes)


def document_error_responses(router: APIRouter) -> None:
    """Add the error statuses each route of ``router`` can answer to its OpenAPI responses."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            documented = error_responses(*_codes(route))
            route.responses = {**documented, **route.responses}
