"""New-experiment pages (web layer): the form that walks through the pieces, and the spec-file box.

``GET /experiments/new``: target taxonomy, teacher (a registered model, or trained on the sources
with a preset), source / extra / evaluation rows (dataset, mapping, approved version, split,
weight; rows added and removed with HTMX), student preset, rounds and TTA, pre-filled with the
demo experiment when ``unilabel demo ml`` registered it. ``POST /experiments/new`` and
``POST /experiments/new/spec`` (a pasted or uploaded YAML/JSON spec) build an
:class:`~app.schemas.experiments.ExperimentSpec` and call the same service as the API; a refusal
re-renders the page (422) with each message under the field it names. Who may create (editor) is
checked before the form is read.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.config import Settings
from app.db.models import User
from app.domain.errors import DomainError
from app.services import experiments as service
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages import _experiment_form as model
from app.web.pages._render import flash, page, render_text

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    session: Session,
    *,
    form: model.Form,
    errors: model.FieldErrors | None = None,
    spec_text: str = "",
    status_code: int = 200,
) -> Response:
    opts = model.options(session)
    return page(
        request,
        "experiments/new.html",
        status_code=status_code,
        active_nav="experiments",
        form=form,
        rows=model.row_numbers(form),
        errors=errors or {},
        spec_text=spec_text,
        **opts,
    )


@router.get("/experiments/new", response_class=HTMLResponse)
def experiment_new_page(request: Request, session: SessionDep, _user: EditorUser) -> Response:
    """The form, with the demo experiment's objects pre-filled when they are registered (named
    ``demo-scenes-2``, ``-3``, ... when ``demo-scenes`` exists already)."""
    form = model.initial_form(model.options(session))
    if form.get("name"):
        taken = {row.name for row in service.list_experiments(session, limit=500)[0]}
        base, n = form["name"], 1
        while form["name"] in taken:
            n += 1
            form["name"] = f"{base}-{n}"
    return _page(request, session, form=form)


@router.get("/experiments/new/row", response_class=HTMLResponse)
def experiment_row_fragment(
    request: Request,
    session: SessionDep,
    _user: EditorUser,
    group: Annotated[str, Query(pattern="^(sources|extras|evaluation)$")],
) -> Response:
    """One empty set row (HTMX "Add a set"): the button includes the form, so the new row's number
    follows the highest one present."""
    present = model.row_numbers({k: "" for k in request.query_params})[group]
    index = (max(present) + 1) if present else 0
    if index > model.MAX_ROW:
        return HTMLResponse("", status_code=422)
    opts = model.options(session)
    body = render_text(request, "experiments/_set_row.html", group=group, i=index, form={}, errors={}, **opts)
    return HTMLResponse(body)


@router.get("/experiments/new/removed", response_class=HTMLResponse)
def experiment_row_removed(_user: EditorUser) -> Response:
    """Nothing: a removed row's button swaps its row for this."""
    return HTMLResponse("")


def _create(
    session: Session, settings: Settings, user: User, built: model.Built, *, from_text: bool, form: model.Form
) -> tuple[int | None, model.FieldErrors]:
    if built.spec is None:
        return None, built.errors
    try:
        row = service.create_experiment(session, spec=built.spec, settings=settings, user_id=user.id)
        return row.id, {}
    except DomainError as exc:
        session.rollback()
        if from_text:
            return None, model.spec_text_errors(exc)
        errors: model.FieldErrors = {}
        model.add_errors(exc, errors, built.rows, model.known_keys(form))
        return None, errors


def _created(request: Request, experiment_id: int) -> Response:
    flash(request, "Experiment created; run 1 started.")
    return RedirectResponse(f"/experiments/{experiment_id}", status_code=303)


@router.post("/experiments/new", response_class=HTMLResponse)
async def experiment_create(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> Response:
    """Create from the form; the experiment page follows (303), a refusal re-renders the form (422)."""
    raw = await request.form()
    form = {k: str(v) for k, v in raw.items() if k != "csrf_token" and isinstance(v, str)}
    built = model.build_from_form(form)
    new_id, errors = await run_in_threadpool(
        _create, session, settings, user, built, from_text=False, form=form
    )
    if new_id is None:
        return await run_in_threadpool(
            lambda: _page(request, session, form=form, errors=errors, status_code=422)
        )
    return _created(request, new_id)


async def _spec_text(raw: Any) -> str:
    upload = raw.get("spec_file")
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(model.MAX_SPEC_BYTES + 1)
        if len(data) > model.MAX_SPEC_BYTES:
            return "\0too-large"
        return data.decode("utf-8", errors="replace")
    return str(raw.get("spec_text") or "")


@router.post("/experiments/new/spec", response_class=HTMLResponse)
async def experiment_create_from_spec(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> Response:
    """Create from a pasted or uploaded spec (YAML or JSON): the same validation as the API."""
    raw = await request.form()
    text = await _spec_text(raw)
    if text == "\0too-large":
        built = model.Built(None, {"spec_text": f"the spec file is over {model.MAX_SPEC_BYTES // 1024} KiB"})
        text = ""
    else:
        built = model.build_from_text(text)
    new_id, errors = await run_in_threadpool(_create, session, settings, user, built, from_text=True, form={})
    if new_id is None:
        form = model.initial_form(await run_in_threadpool(model.options, session))
        return await run_in_threadpool(
            lambda: _page(request, session, form=form, errors=errors, spec_text=text, status_code=422)
        )
    return _created(request, new_id)
