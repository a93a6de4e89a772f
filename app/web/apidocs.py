"""API documentation pages (web layer): Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served offline.

FastAPI's own ``/docs`` loads Swagger UI from a CDN (and a favicon from fastapi.tiangolo.com), so it is
a blank page on a server without internet. These pages use the same FastAPI HTML builders with the
assets vendored under ``static/apidocs/`` (pinned npm versions, listed in ``static/js/VENDORED.md``);
``create_app`` turns FastAPI's defaults off and includes this router instead.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"  # npm swagger-ui-dist
REDOC_VERSION = "2.5.1"  # npm redoc
ASSETS = "/static/apidocs"
# The app's own favicon (four label swatches), inline so that no request leaves the server.
FAVICON = (
    "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E"
    "%3Crect width='7' height='7' fill='%232456c7'/%3E%3Crect x='9' width='7' height='7' fill='%23e8553f'/%3E"
    "%3Crect y='9' width='7' height='7' fill='%231d7a46'/%3E"
    "%3Crect x='9' y='9' width='7' height='7' fill='%23f0a202'/%3E%3C/svg%3E"
)

router = APIRouter(include_in_schema=False)


def _openapi_url(request: Request) -> str:
    return str(request.app.openapi_url or "/openapi.json")


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI (try the API from the browser), from this server's own copy."""
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} API: Swagger UI",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
        swagger_css_url=f"{ASSETS}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
        swagger_favicon_url=FAVICON,
        # no badge that sends the schema to validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc (a readable reference of the same schema), from this server's own copy."""
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} API: ReDoc",
        redoc_js_url=f"{ASSETS}/redoc.standalone.js?v={REDOC_VERSION}",
        redoc_favicon_url=FAVICON,
        with_google_fonts=False,
    )
