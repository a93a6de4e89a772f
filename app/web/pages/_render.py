"""Template rendering for the HTML pages (web layer): one Jinja environment, page and fragment helpers.

Pages render a full document (``base.html``); fragments render a partial whose root element has a
stable id, optionally followed by out-of-band swaps (toasts, validation panel) appended by
:func:`fragment`. HTMX answers to errors carry ``HX-Retarget``/``HX-Reswap`` so that ``app.js``
knows they are meant to be swapped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape

from app.domain.hashing import sha256_of_file
from app.domain.survey import percent

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES_DIR = REPO_ROOT / "templates"
STATIC_DIR = REPO_ROOT / "static"


@dataclass(frozen=True, slots=True)
class ToastAction:
    """A button inside a toast that posts ``vals`` to ``url`` (e.g. Undo)."""

    label: str
    url: str
    vals: dict[str, Any]
    include: str | None = None
    target: str | None = None
    swap: str = "none"
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Toast:
    message: str
    kind: str = "success"  # success | info | warning | error
    action: ToastAction | None = None


@dataclass(slots=True)
class Fragments:
    """Several template snippets sent in one HTMX answer (main swap first, then OOB swaps)."""

    parts: list[str] = field(default_factory=list)

    def add(self, request: Request, name: str, **context: Any) -> Fragments:
        self.parts.append(render_text(request, name, **context))
        return self

    def toast(self, request: Request, toast: Toast) -> Fragments:
        return self.add(request, "partials/_toast.html", toast=toast)


@lru_cache(maxsize=256)
def _static_version(relpath: str) -> str:
    path = STATIC_DIR / relpath
    try:
        return sha256_of_file(path)[:10]
    except OSError:
        return "0"


def static_url(relpath: str) -> str:
    """``/static/<relpath>?v=<content hash>``: cache-busting without a build step."""
    return f"/static/{relpath}?v={_static_version(relpath)}"


def ago(value: datetime | None) -> str:
    """A short relative time ("3 min ago") for tables; the exact time goes in a title attribute."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 45:
        return "just now"
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            label = f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''}"
            return f"{label} ago" if n < 30 or unit != "day" else value.strftime("%Y-%m-%d")
    return "just now"


def swatch_html(color: str | None) -> Markup:
    """A colour swatch (decorative: the name always stands next to it)."""
    if not color:
        return Markup('<span class="swatch swatch-none" aria-hidden="true"></span>')
    return Markup('<span class="swatch" style="background:{}" aria-hidden="true"></span>').format(color)


def name_html(name: str) -> Markup:
    """A label name with leading/trailing spaces made visible (the paper's CSVs have such typos)."""
    stripped = name.strip()
    if stripped == name:
        return escape(name)
    lead = name[: len(name) - len(name.lstrip())]
    trail = name[len(name.rstrip()) :]
    out = Markup("")
    if lead:
        out += Markup('<span class="ws" title="leading space">{}</span>').format("␣" * len(lead))
    out += escape(stripped)
    if trail:
        out += Markup('<span class="ws" title="trailing space">{}</span>').format("␣" * len(trail))
    return out


def matrix_cell_html(
    key: str, target_id: int, on: bool, can_edit: bool, *, oob: bool = False, focus: bool = False
) -> Markup:
    """One matrix cell (66 x 64 of them per page, hence Python rather than a Jinja macro).

    The target id comes from the column header (``th[data-t]``); the button is named by its row and
    column headers through ``aria-labelledby``.
    """
    # key is a position or "u" + hex digest, target_id an int: nothing here needs escaping
    attrs = (' hx-swap-oob="true"' if oob else "", "true" if on else "false")
    extra = (' tabindex="0"' if focus else "") + ("" if can_edit else " disabled")
    return Markup(
        f'<td id="c{key}-{target_id}"{attrs[0]}><button aria-pressed="{attrs[1]}" '
        f'aria-labelledby="r{key} h{target_id}"{extra}></button></td>'
    )


def matrix_row_cells_html(
    key: str, targets: Iterable[int], mapped: Iterable[int], can_edit: bool, first: bool
) -> Markup:
    """All cells of one matrix row; ``first`` gives the row's first cell the roving tab stop."""
    on = set(mapped)
    return Markup("").join(
        matrix_cell_html(key, t, t in on, can_edit, focus=first and i == 0) for i, t in enumerate(targets)
    )


def _build_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.globals["static_url"] = static_url
    env.globals["swatch_html"] = swatch_html
    env.globals["name_html"] = name_html
    env.globals["matrix_cell_html"] = matrix_cell_html
    env.globals["matrix_row_cells_html"] = matrix_row_cells_html
    env.filters["ago"] = ago
    env.filters["percent"] = percent  # 0.71 -> "71%", 0.003 -> "0.3%" (a thin target never reads 0 %)
    env.trim_blocks = True
    env.lstrip_blocks = True
    return templates


templates = _build_templates()


def _csrf(request: Request) -> str:
    from app.web.auth import csrf_token  # imported lazily: auth imports the session dependency

    return csrf_token(request)


FLASH_KEY = "flash"


def flash(request: Request, message: str, kind: str = "success") -> None:
    """Queue a toast for the next full page (after a POST-redirect-GET)."""
    queued = list(request.session.get(FLASH_KEY, []))
    queued.append({"message": message, "kind": kind})
    request.session[FLASH_KEY] = queued[-5:]


def pop_flashes(request: Request) -> list[Toast]:
    if FLASH_KEY not in request.session:
        return []
    return [Toast(f["message"], f.get("kind", "info")) for f in request.session.pop(FLASH_KEY)]


def render_text(request: Request, name: str, **context: Any) -> str:
    """Render one template to a string with the request, the CSRF token and the user in scope."""
    context.setdefault("request", request)
    context.setdefault("csrf_token", _csrf(request))
    context.setdefault("user", getattr(request.state, "user", None))
    return templates.get_template(name).render(context)


def page(
    request: Request,
    name: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A full HTML page (queued flash messages become toasts)."""
    context.setdefault("flashes", pop_flashes(request))
    return HTMLResponse(render_text(request, name, **context), status_code=status_code, headers=headers)


def fragment(
    request: Request,
    parts: Fragments | str,
    *,
    status_code: int = 200,
    retarget: str | None = None,
    reswap: str | None = None,
    trigger: str | None = None,
) -> HTMLResponse:
    """An HTMX answer: the concatenated snippets, with optional HX-Retarget/HX-Reswap/HX-Trigger."""
    body = parts if isinstance(parts, str) else "\n".join(parts.parts)
    headers: dict[str, str] = {}
    if retarget:
        headers["HX-Retarget"] = retarget
    if reswap:
        headers["HX-Reswap"] = reswap
    if trigger:
        headers["HX-Trigger"] = trigger
    return HTMLResponse(body, status_code=status_code, headers=headers)


def toast_response(request: Request, toast: Toast, *, status_code: int = 200) -> HTMLResponse:
    """Only a toast (e.g. a refused edit): swapped into #toasts even on a 4xx status."""
    return fragment(
        request,
        Fragments().toast(request, toast),
        status_code=status_code,
        retarget="#toasts",
        reswap="none",
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"
