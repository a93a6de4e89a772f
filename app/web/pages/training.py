"""Training pages (web layer): the student-training form and the training panel of a job page.

``GET/POST /training/new``: training sets (a dataset's ground truth through an approved mapping
version, or a finished pseudo-label run, optionally one split) with weights, validation sets, a
start model, and the recipe: a preset (``quick`` pre-selected, so the demo trains in minutes;
``paper``; ``custom``) with the fields the user fills in over it. A refusal re-renders the form
with each message under its row or field (422). ``GET /jobs/{id}/training``: the panel (loss and
mIoU charts as inline SVG, per-class IoU, confusion heatmap of the best checkpoint, link to the
registered model); it polls itself every 3 s while the job is queued or running and is rendered
without ``hx-trigger`` once it has ended.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.db.models import User
from app.domain.errors import DomainError
from app.domain.jobs import JobStatus
from app.domain.training_presets import PAPER_START_MODEL, PRESET_NAMES, PRESETS
from app.schemas.jobs import TrainParams
from app.schemas.training import TrainRecipe
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services import training as training_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_review
from app.web.pages._forms import FieldErrors
from app.web.pages._render import flash, page, render_text
from app.web.pages._training_view import panel_context

router = APIRouter(include_in_schema=False)

TRAIN_ROWS, VAL_ROWS = 3, 2
RECIPE_FIELDS = (
    "max_iterations", "epochs", "batch_size", "grad_accum_steps", "lr", "encoder_lr", "weight_decay",
    "val_every", "early_stopping_patience", "seed", "fitness", "schedule", "mixture",
)  # fmt: skip
CHOICE_FIELDS = ("fitness", "schedule", "mixture")
FORM_PRESET = "quick"  # the form's choice: minutes on the demo; the API and CLI default to "paper"
TEXT_FIELDS = ("name", "model_name", "output_name", "start_model_id", "queue", "device", "override_reason")


def recipe_defaults() -> dict[str, str]:
    """The form's starting values: the ``quick`` preset, every recipe field empty (= the preset's)."""
    return {"preset": FORM_PRESET}


def preset_table() -> list[dict[str, Any]]:
    """Each preset's effective values of the form's fields, for the form's reference table."""
    rows = []
    for name in PRESET_NAMES:
        recipe = TrainRecipe.model_validate({"preset": name})
        values = {k: getattr(recipe, k) for k in RECIPE_FIELDS}
        values |= {"crop": "×".join(map(str, recipe.crop_size)), "crop_fraction": recipe.crop_fraction}
        values |= {"scale": "–".join(map(str, recipe.scale_range))}
        rows.append({"name": name, "summary": PRESETS[name].summary, "fields": values})
    return rows


def _gt_options(session: Session, *, with_unapproved: bool) -> list[tuple[str, str]]:
    """``gt:<dataset>:<version>`` for every dataset and approved version mapping from its taxonomy."""
    datasets, _ = dataset_service.list_datasets(session, limit=500)
    mappings, _ = mapping_service.list_mappings(session, limit=500)
    heads = mapping_service.heads_of(session, mappings)
    out: list[tuple[str, str]] = []
    for d in datasets:
        for m in (m for m in mappings if m.source_taxonomy_id == d.taxonomy_id):
            versions = list(mapping_service.list_versions(session, m.id, limit=20, status="approved")[0])
            head = heads.get(m.id)
            if with_unapproved and head is not None and head.status != "approved":
                versions.insert(0, head)
            for v in versions:
                state = "" if v.status == "approved" else f", {v.status.replace('_', ' ')} — needs override"
                out.append((f"gt:{d.id}:{v.id}", f"{d.name} — ground truth via {m.name} v{v.number}{state}"))
    return out


def _pl_options(session: Session) -> list[tuple[str, str]]:
    jobs, _ = job_service.list_jobs(session, kind="pseudo_label", status="succeeded", limit=200)
    out = []
    for j in jobs:
        priors = "with priors" if json.loads(j.params_json or "{}").get("use_priors", True) else "no priors"
        out.append((f"pl:{j.id}", f"#{j.id} {j.name} — pseudo-labels ({priors})"))
    return out


def _options(session: Session, user: User) -> dict[str, Any]:
    models, _ = model_service.list_models(session, limit=500)
    datasets, _ = dataset_service.list_datasets(session, limit=500)
    gt = _gt_options(session, with_unapproved=can_review(user))
    return {
        "gt_options": gt,
        "train_options": gt + _pl_options(session),
        "models": [(m.id, f"{m.name} ({m.role})") for m in models],
        "splits": sorted({s for d in datasets for s in json.loads(d.splits_json or "[]")}),
        "can_override": can_review(user),
        "train_rows": range(TRAIN_ROWS),
        "val_rows": range(VAL_ROWS),
        "presets": preset_table(),
    }


def _form_page(
    request: Request, session: Session, user: User, *, status_code: int = 200, **ctx: Any
) -> Response:
    ctx.setdefault("errors", {})
    ctx.setdefault("paper_start_model", PAPER_START_MODEL)
    return page(
        request,
        "training/new.html",
        status_code=status_code,
        active_nav="jobs",
        **_options(session, user),
        **ctx,
    )


@router.get("/training/new", response_class=HTMLResponse)
def training_new_page(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    pseudo_label_job_id: Annotated[int | None, Query()] = None,
    dataset_id: Annotated[int | None, Query()] = None,
    mapping_version_id: Annotated[int | None, Query()] = None,
) -> Response:
    """The training form: the ``quick`` preset selected, recipe fields empty (= the preset's values).

    ``?pseudo_label_job_id=`` pre-selects those pseudo-labels as the first training set, and
    ``?dataset_id=&mapping_version_id=`` that ground truth as the first validation set (the home
    page's "Getting started" links here so).
    """
    form = recipe_defaults() | {"queue": "default", "device": "auto", "train_weight_0": "1"}
    if pseudo_label_job_id is not None:
        form["train_source_0"] = f"pl:{pseudo_label_job_id}"
    if dataset_id is not None and mapping_version_id is not None:
        form["val_source_0"] = f"gt:{dataset_id}:{mapping_version_id}"
    return _form_page(request, session, user, form=form)


def _number(form: dict[str, str], key: str, errors: FieldErrors, kind: type = int) -> Any:
    text = form.get(key, "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        errors[key] = f"{text!r} is not a number"
        return None


def _sets(form: dict[str, str], errors: FieldErrors) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training and validation set dicts from the form rows (empty rows are skipped)."""
    train, val = [], []
    for i in range(TRAIN_ROWS):
        source = form.get(f"train_source_{i}", "")
        if not source:
            continue
        row: dict[str, Any] = {"form_row": i, "weight": _number(form, f"train_weight_{i}", errors, float)}
        if source.startswith("pl:"):
            row |= {"kind": "pseudo_labels", "job_id": int(source[3:])}
        else:
            _, dataset_id, version_id = source.split(":")
            split = form.get(f"train_split_{i}", "").strip() or None
            row |= {"dataset_id": int(dataset_id), "mapping_version_id": int(version_id), "split": split}
        train.append(row)
    for i in range(VAL_ROWS):
        source = form.get(f"val_source_{i}", "")
        if source:
            _, dataset_id, version_id = source.split(":")
            split = form.get(f"val_split_{i}", "").strip() or None
            val.append(
                {
                    "form_row": i,
                    "dataset_id": int(dataset_id),
                    "mapping_version_id": int(version_id),
                    "split": split,
                }
            )
    if not train:
        errors["train_source_0"] = "choose at least one training set"
    return train, val


def _recipe(form: dict[str, str], errors: FieldErrors) -> dict[str, Any]:
    """The preset plus the fields the user filled in (an empty field keeps the preset's value)."""
    floats = {"lr", "encoder_lr", "weight_decay"}
    recipe: dict[str, Any] = {"preset": form.get("preset") or FORM_PRESET}
    for key in RECIPE_FIELDS:
        if key in CHOICE_FIELDS:
            if form.get(key):
                recipe[key] = form[key]
        else:
            value = _number(form, key, errors, float if key in floats else int)
            if value is not None:
                recipe[key] = value
    crop = (_number(form, "crop_h", errors), _number(form, "crop_w", errors))
    if None not in crop:
        recipe["crop_size"] = crop
    scales = (_number(form, "scale_min", errors, float), _number(form, "scale_max", errors, float))
    if None not in scales:
        recipe["scale_range"] = scales
    return recipe


def _error_key(loc: tuple[Any, ...], train: list[dict[str, Any]], val: list[dict[str, Any]]) -> str:
    """A pydantic error location or a service field -> the form key it belongs under."""
    head = str(loc[0]) if loc else ""
    if head in ("train_sets", "val_sets") and len(loc) > 1:
        rows = train if head == "train_sets" else val
        index = int(loc[1])
        prefix = "train" if head == "train_sets" else "val"
        return f"{prefix}_source_{rows[index]['form_row']}" if index < len(rows) else f"{prefix}_source_0"
    if head == "train_sets":
        return "train_source_0"
    if head == "recipe" and len(loc) > 1:
        name = str(loc[1])
        return {"crop_size": "crop_h", "scale_range": "scale_min"}.get(name, name)
    if head == "recipe" and len(loc) == 1:
        return "preset"
    return head if head in (*TEXT_FIELDS, "allow_unapproved", "allow_overlap") else ""


def build_params(form: dict[str, str], user: User, errors: FieldErrors) -> tuple[TrainParams | None, Any]:
    """Typed params from the form, or None with the messages in ``errors``; also the set rows."""
    train, val = _sets(form, errors)
    recipe = _recipe(form, errors)
    override = bool(form.get("allow_unapproved"))
    if override and not can_review(user):
        errors["allow_unapproved"] = "only reviewers and admins may use an unapproved mapping version"
    start = _number(form, "start_model_id", errors)
    if errors:
        return None, (train, val)
    body = {
        "name": form.get("name", "").strip(),
        "queue": form.get("queue") or "default",
        "device": form.get("device") or "auto",
        "train_sets": [{k: v for k, v in r.items() if k != "form_row" and v is not None} for r in train],
        "val_sets": [{k: v for k, v in r.items() if k != "form_row"} for r in val],
        "start_model_id": start,
        "recipe": recipe,
        "model_name": form.get("model_name", "").strip() or None,
        "output_name": form.get("output_name", "").strip() or None,
        "allow_unapproved": override,
        "override_reason": form.get("override_reason", "").strip() or None,
        "allow_overlap": bool(form.get("allow_overlap")),
    }
    try:
        return TrainParams.model_validate(body), (train, val)
    except ValidationError as exc:
        for err in exc.errors():
            key = _error_key(tuple(err.get("loc", ())), train, val)
            errors.setdefault(key, str(err.get("msg", "invalid value")).removeprefix("Value error, "))
        return None, (train, val)


def _submit(
    session: Session, settings: Settings, user: User, form: dict[str, str]
) -> tuple[int | None, FieldErrors]:
    errors: FieldErrors = {}
    params, (train, val) = build_params(form, user, errors)
    if params is None:
        return None, errors
    try:
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
        return job.id, errors
    except DomainError as exc:
        session.rollback()
        field = exc.field or ""
        loc = tuple(field.split(".")) if field.startswith(("train_sets", "val_sets")) else (field,)
        errors[_error_key(loc, train, val)] = exc.message
        return None, errors


@router.post("/training/new", response_class=HTMLResponse)
async def training_submit_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> Response:
    """Validate and submit; the job page follows (303), a refusal re-renders the form (422)."""
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
    job_id, errors = await run_in_threadpool(_submit, session, settings, user, form)
    if job_id is None:
        return await run_in_threadpool(
            lambda: _form_page(request, session, user, status_code=422, form=form, errors=errors)
        )
    flash(request, f"Training job {job_id} queued.")
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.get("/jobs/{job_id}/training", response_class=HTMLResponse)
def training_panel_fragment(request: Request, session: SessionDep, user: ReadUser, job_id: int) -> Response:
    """The training panel of a ``train`` job (polls itself while the job is queued or running)."""
    job = job_service.job_payload(session, job_service.get_job(session, job_id))
    if job["kind"] != "train":
        return HTMLResponse("", status_code=404)
    metrics = training_service.read_metrics(session, job_id)
    ctx = panel_context(job, metrics)
    if ctx["model_id"] is not None:
        ctx["model"] = model_service.get_model(session, int(ctx["model_id"]))
    target_id = job["params"].get("target_taxonomy_id")
    ctx["target"] = taxonomy_service.get_taxonomy(session, int(target_id)) if target_id else None
    terminal = JobStatus(job["status"]).is_terminal
    return HTMLResponse(render_text(request, "training/_job_panel.html", j=job, terminal=terminal, **ctx))
