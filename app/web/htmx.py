"""HTMX helpers (web layer): detect HTMX requests, redirect them, and send toasts.

API:
    is_htmx(request) -> bool                     -- the request carries ``HX-Request: true``
    hx_redirect(request, url) -> Response        -- ``HX-Redirect`` for HTMX, a 303 otherwise
    toast_trigger(message, level="info") -> dict -- response headers that fire the client event
                                                    ``unilabel:toast`` with {"message", "level"}
    render_toast(request, message, level, status_code=200) -> HTMLResponse
        the ``partials/_toast.html`` fragment (out-of-band into ``#toasts``) when the template
        exists, else a minimal inline fragment; always also sets the ``HX-Trigger`` header, which
        htmx processes even for 4xx/5xx responses that it does not swap.
"""

from __future__ import annotations

import json
from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import TemplateNotFound

TOAST_EVENT = "unilabel:toast"
TOAST_TEMPLATE = "partials/_toast.html"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request", "").lower() == "true"


def hx_redirect(request: Request, url: str) -> Response:
    """Navigate the browser to ``url`` after a write (a full page load, not a swap)."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def toast_trigger(message: str, level: str = "info") -> dict[str, str]:
    return {"HX-Trigger": json.dumps({TOAST_EVENT: {"message": message, "level": level}})}


def render_toast(request: Request, message: str, level: str = "info", status_code: int = 200) -> HTMLResponse:
    templates = getattr(request.app.state, "templates", None)
    headers = toast_trigger(message, level)
    if templates is not None:
        try:
            template = templates.get_template(TOAST_TEMPLATE)
        except TemplateNotFound:
            template = None
        if template is not None:
            body = template.render(request=request, message=message, level=level)
            return HTMLResponse(body, status_code=status_code, headers=headers)
    body = (
        f'<div id="toasts" hx-swap-oob="beforeend"><div class="toast toast-{escape(level)}" role="status">'
        f"{escape(message)}</div></div>"
    )
    return HTMLResponse(body, status_code=status_code, headers=headers)
