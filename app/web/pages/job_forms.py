"""Job submission form (web layer): pseudo-labelling and evaluation, with inline validation messages.

Everything is validated by ``services.jobs.submit_job`` before a row exists; a refusal re-renders
the form with the typed values and the message under the field it names. Using an unapproved
mapping version needs an explicit, recorded override, offered to reviewers and admins only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import User
from app.domain.errors import DomainError
from app.schemas.jobs import EvaluateParams, PseudoLabelParams
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_review
from app.web.pages._forms import FieldErrors, errors_of, parse_float, parse_int
from app.web.pages._render import flash, page

router = APIRouter(include_in_schema=False)

FORM_FIELDS = (
    "kind", "model_id", "dataset_id", "split", "mapping_version_id", "tta", "tta_windows", "threshold",
    "output_name", "name", "use_priors", "shard_size", "max_images", "queue", "allow_unapproved",
    "override_reason",
)  # fmt: skip
DEFAULTS = {"kind": "pseudo_label", "tta": "1", "use_priors": "1", "shard_size": "50", "queue": "default"}


def _version_options(session: Session, *, with_unapproved: bool) -> list[dict[str, Any]]:
    """Approved versions of every mapping (plus each unapproved head for reviewers), newest first."""
    rows, _ = mapping_service.list_mappings(session, limit=500)
    heads = mapping_service.heads_of(session, rows)
    out: list[dict[str, Any]] = []
    for m in rows:
        approved, _ = mapping_service.list_versions(session, m.id, limit=20, status="approved")
        versions = list(approved)
        head = heads.get(m.id)
        if with_unapproved and head is not None and head.status != "approved":
            versions.insert(0, head)
        for v in versions:
            note = "approved" if v.status == "approved" else f"{v.status.replace('_', ' ')} — needs override"
            out.append(
                {
                    "id": v.id,
                    "label": f"{m.name} · v{v.number} ({note}) · {v.content_hash[:8]}",
                    "approved": v.status == "approved",
                }
            )
    return out


def _options(session: Session, user: User) -> dict[str, Any]:
    models, _ = model_service.list_models(session, limit=500)
    datasets, _ = dataset_service.list_datasets(session, limit=500)
    splits = sorted({s for d in datasets for s in json.loads(d.splits_json or "[]")})
    return {
        "models": [(m.id, f"{m.name} ({m.role})") for m in models],
        "datasets": [(d.id, d.name) for d in datasets],
        "splits": splits,
        "versions": _version_options(session, with_unapproved=can_review(user)),
        "can_override": can_review(user),
    }


def _form_page(
    request: Request, session: Session, user: User, *, status_code: int = 200, **context: Any
) -> Response:
    context.setdefault("errors", {})
    return page(
        request,
        "jobs/new.html",
        status_code=status_code,
        active_nav="jobs",
        **_options(session, user),
        **context,
    )


@router.get("/jobs/new", response_class=HTMLResponse)
def job_new_page(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    dataset_id: Annotated[str, Query()] = "",
    model_id: Annotated[str, Query()] = "",
) -> Response:
    """The submission form (prefilled from ``?dataset_id=`` / ``?model_id=``)."""
    form = DEFAULTS | {"dataset_id": dataset_id, "model_id": model_id}
    return _form_page(request, session, user, form=form)


def _params(
    form: dict[str, str], user: User, errors: FieldErrors
) -> PseudoLabelParams | EvaluateParams | None:
    """Typed params from the form, or None with the messages in ``errors``."""
    ids = {f: parse_int(form[f], f, errors) for f in ("model_id", "dataset_id", "mapping_version_id")}
    threshold = parse_float(form["threshold"], "threshold", errors)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        errors["threshold"] = f"the threshold must lie between 0 and 1, got {threshold:g}"
    shard_size = parse_int(form["shard_size"], "shard_size", errors, required=False)
    max_images = parse_int(form["max_images"], "max_images", errors, required=False)
    override = bool(form["allow_unapproved"])
    if override and not can_review(user):
        errors["allow_unapproved"] = "only reviewers and admins may use an unapproved mapping version"
    if errors:
        return None
    common: dict[str, Any] = {
        **ids,
        "name": form["name"].strip(),
        "queue": form["queue"] or "default",
        "split": form["split"].strip() or None,
        "tta": bool(form["tta"]),
        "tta_windows": bool(form["tta_windows"]),
        "max_images": max_images,
        "allow_unapproved": override,
        "override_reason": form["override_reason"].strip() or None,
    }
    try:
        if form["kind"] == "evaluate":
            return EvaluateParams(**common)
        return PseudoLabelParams(
            **common,
            threshold=threshold,
            output_name=form["output_name"].strip() or None,
            use_priors=bool(form["use_priors"]),
            shard_size=shard_size or 50,
        )
    except ValidationError as exc:
        errors.update(errors_of(exc, FORM_FIELDS))
        return None


def _submit(
    session: Session, settings: Settings, user: User, form: dict[str, str], errors: FieldErrors
) -> tuple[int | None, int]:
    """(new job id, 303) or (None, the refusal's HTTP status) with the messages in ``errors``."""
    params = _params(form, user, errors)
    if params is None:
        return None, 422
    try:
        return job_service.submit_job(session, params=params, settings=settings, user_id=user.id).id, 303
    except DomainError as exc:
        session.rollback()
        errors.update(errors_of(exc, FORM_FIELDS))
        return None, exc.status_code


@router.post("/jobs/new", response_class=HTMLResponse)
def job_submit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    kind: Annotated[str, Form()] = "pseudo_label",
    model_id: Annotated[str, Form()] = "",
    dataset_id: Annotated[str, Form()] = "",
    split: Annotated[str, Form()] = "",
    mapping_version_id: Annotated[str, Form()] = "",
    tta: Annotated[str, Form()] = "",
    tta_windows: Annotated[str, Form()] = "",
    threshold: Annotated[str, Form()] = "",
    output_name: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    use_priors: Annotated[str, Form()] = "",
    shard_size: Annotated[str, Form()] = "",
    max_images: Annotated[str, Form()] = "",
    queue: Annotated[str, Form()] = "default",
    allow_unapproved: Annotated[str, Form()] = "",
    override_reason: Annotated[str, Form()] = "",
) -> Response:
    """Validate and submit; the job page follows (303), a refusal re-renders the form (4xx)."""
    form = {
        "kind": kind, "model_id": model_id, "dataset_id": dataset_id, "split": split,
        "mapping_version_id": mapping_version_id, "tta": tta, "tta_windows": tta_windows,
        "threshold": threshold,
        "output_name": output_name, "name": name, "use_priors": use_priors, "shard_size": shard_size,
        "max_images": max_images, "queue": queue, "allow_unapproved": allow_unapproved,
        "override_reason": override_reason,
    }  # fmt: skip
    errors: FieldErrors = {}
    job_id, status_code = _submit(session, settings, user, form, errors)
    if job_id is None:
        return _form_page(request, session, user, status_code=status_code, form=form, errors=errors)
    flash(request, f"Job {job_id} queued.")
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
