"""Job submission form (web layer): pseudo-labelling, evaluation and surveys (a teacher without
priors on a sample of a dataset: the data evidence of mapping suggestions and audits), with inline
validation messages.

The mapping-version select offers only versions that fit the chosen model (the mapping's target
taxonomy) and dataset (its source taxonomy) and says why the other mappings are hidden; changing the
model or the dataset swaps it (``GET /jobs/new/mapping-versions``). A submission is checked field by
field (``services.job_inputs.check_inputs`` plus the form's own parsing) and every problem is shown
at once, under the field it names; ``services.jobs.submit_job`` checks again before a row exists.
Using an unapproved mapping version needs an explicit, recorded override, offered to reviewers and
admins only. A survey takes no mapping version; its sample size and seed are checked like the
API's (``SurveyParams``), and the teacher must have a class-list taxonomy (``submit_job``).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import User
from app.domain.errors import DomainError
from app.schemas.jobs import (
    OUTPUT_NAME_PATTERN,
    OUTPUT_NAME_RULE,
    EvaluateParams,
    PseudoLabelParams,
    SurveyParams,
)
from app.services import datasets as dataset_service
from app.services import job_inputs
from app.services import jobs as job_service
from app.services import models as model_service
from app.web.auth import EditorUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_review
from app.web.pages._forms import FieldErrors, errors_of, parse_float, parse_int
from app.web.pages._render import Fragments, flash, fragment, page

router = APIRouter(include_in_schema=False)

FORM_FIELDS = (
    "kind", "model_id", "dataset_id", "split", "mapping_version_id", "tta", "tta_windows", "threshold",
    "output_name", "name", "use_priors", "shard_size", "max_images", "queue", "allow_unapproved",
    "override_reason", "sample_size", "seed",
)  # fmt: skip
KINDS = ("pseudo_label", "evaluate", "survey")
DEFAULTS = {
    "kind": "pseudo_label", "tta": "1", "use_priors": "1", "shard_size": "50", "queue": "default",
    "sample_size": str(SurveyParams.model_fields["sample_size"].default),
    "seed": str(SurveyParams.model_fields["seed"].default),
}  # fmt: skip
Params = PseudoLabelParams | EvaluateParams | SurveyParams


def _int_or_none(value: str) -> int | None:
    text = value.strip()
    return int(text) if text.isdigit() else None


def _choices(session: Session, user: User, form: dict[str, str]) -> dict[str, Any]:
    """The mapping versions that fit the form's model and dataset, and why others are hidden."""
    choices = job_inputs.mapping_choices(
        session,
        model_id=_int_or_none(form.get("model_id", "")),
        dataset_id=_int_or_none(form.get("dataset_id", "")),
        with_unapproved=can_review(user),
    )
    return {"choices": choices, "versions": choices.versions}


def _options(session: Session, user: User, form: dict[str, str]) -> dict[str, Any]:
    models, _ = model_service.list_models(session, limit=500)
    datasets, _ = dataset_service.list_datasets(session, limit=500)
    splits = sorted({s for d in datasets for s in json.loads(d.splits_json or "[]")})
    return {
        "models": [(m.id, f"{m.name} ({m.role})") for m in models],
        "datasets": [(d.id, d.name) for d in datasets],
        "splits": splits,
        "can_override": can_review(user),
        "output_name_rule": OUTPUT_NAME_RULE,
        **_choices(session, user, form),
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
        **_options(session, user, context["form"]),
        **context,
    )


@router.get("/jobs/new", response_class=HTMLResponse)
def job_new_page(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    kind: Annotated[str, Query()] = "",
    dataset_id: Annotated[str, Query()] = "",
    model_id: Annotated[str, Query()] = "",
    mapping_version_id: Annotated[str, Query()] = "",
) -> Response:
    """The submission form, prefilled from ``?kind=``, ``?model_id=``, ``?dataset_id=`` and
    ``?mapping_version_id=`` (the model, dataset and evaluation pages link here)."""
    form = DEFAULTS | {
        "dataset_id": dataset_id,
        "model_id": model_id,
        "mapping_version_id": mapping_version_id,
    }
    if kind in KINDS:
        form["kind"] = kind
    return _form_page(request, session, user, form=form)


@router.get("/jobs/new/mapping-versions", response_class=HTMLResponse)
def job_mapping_versions_fragment(
    request: Request,
    session: SessionDep,
    user: EditorUser,
    model_id: Annotated[str, Query()] = "",
    dataset_id: Annotated[str, Query()] = "",
    mapping_version_id: Annotated[str, Query()] = "",
) -> Response:
    """``jobs/_mapping_versions.html``: the versions that fit the model and dataset, swapped when
    either select changes (a chosen version that no longer fits is no longer selected)."""
    form = {"model_id": model_id, "dataset_id": dataset_id, "mapping_version_id": mapping_version_id}
    context = {"form": form, "errors": {}, **_choices(session, user, form)}
    return fragment(request, Fragments().add(request, "jobs/_mapping_versions.html", **context))


def _add(errors: FieldErrors, field: str, message: str) -> None:
    """Several problems of one field are shown together."""
    known = errors.get(field)
    errors[field] = message if not known or message in known else f"{known}; {message}"


def _inputs(form: dict[str, str], ids: dict[str, int | None], override: bool) -> job_inputs.JobInputs:
    output_name = form["output_name"].strip() if form["kind"] != "evaluate" else ""
    return job_inputs.JobInputs(
        model_id=ids["model_id"],
        dataset_id=ids["dataset_id"],
        mapping_version_id=ids["mapping_version_id"],
        split=form["split"].strip() or None,
        allow_unapproved=override,
        override_reason=form["override_reason"].strip() or None,
        # A name that breaks the rule is reported by the params; only a valid one is looked up.
        output_name=output_name if re.fullmatch(OUTPUT_NAME_PATTERN, output_name) else None,
    )


def _parse(form: dict[str, str], user: User, errors: FieldErrors) -> dict[str, Any]:
    """The form's values, typed; unreadable ones are None with their message in ``errors``."""
    survey = form["kind"] == "survey"
    values: dict[str, Any] = {f: parse_int(form[f], f, errors) for f in ("model_id", "dataset_id")}
    values["mapping_version_id"] = (
        None if survey else parse_int(form["mapping_version_id"], "mapping_version_id", errors)
    )
    for f in ("sample_size", "seed"):  # the survey's own; the params say what is out of range
        values[f] = parse_int(form[f], f, errors, required=False) if survey else None
    threshold = parse_float(form["threshold"], "threshold", errors)
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        errors["threshold"] = f"the threshold must lie between 0 and 1, got {threshold:g}"
        threshold = None
    values["threshold"] = threshold
    values["shard_size"] = parse_int(form["shard_size"], "shard_size", errors, required=False)
    values["max_images"] = parse_int(form["max_images"], "max_images", errors, required=False)
    values["allow_unapproved"] = bool(form["allow_unapproved"]) and not survey
    if values["allow_unapproved"] and not can_review(user):
        errors["allow_unapproved"] = "only reviewers and admins may use an unapproved mapping version"
    return values


def _survey(common: dict[str, Any], form: dict[str, str], v: dict[str, Any]) -> SurveyParams:
    """A survey's params: no mapping version, no inference options (a survey runs without priors)."""
    kept = {k: common[k] for k in ("model_id", "dataset_id", "name", "queue", "split")}
    extra = {k: v[k] for k in ("sample_size", "seed") if v[k] is not None}
    return SurveyParams(**kept, **extra, output_name=form["output_name"].strip() or None)


def _params(
    session: Session, settings: Settings, form: dict[str, str], user: User, errors: FieldErrors
) -> Params | None:
    """Typed params from the form, or None with *every* problem in ``errors`` (all fields at once)."""
    v = _parse(form, user, errors)
    ids = {f: v[f] for f in ("model_id", "dataset_id", "mapping_version_id")}
    checked = job_inputs.check_inputs(session, _inputs(form, ids, v["allow_unapproved"]), settings=settings)
    for problem in checked.problems:
        for field, message in errors_of(problem, FORM_FIELDS).items():
            _add(errors, field, message)
    common: dict[str, Any] = {
        **ids,
        "name": form["name"].strip(),
        "queue": form["queue"] or "default",
        "split": form["split"].strip() or None,
        "tta": bool(form["tta"]),
        "tta_windows": bool(form["tta_windows"]),
        "max_images": v["max_images"],
        "allow_unapproved": v["allow_unapproved"],
        "override_reason": form["override_reason"].strip() or None,
    }
    try:
        if form["kind"] == "survey":
            params: Params = _survey(common, form, v)
        elif form["kind"] == "evaluate":
            params = EvaluateParams(**common)
        else:
            params = PseudoLabelParams(
                **common,
                threshold=v["threshold"],
                output_name=form["output_name"].strip() or None,
                use_priors=bool(form["use_priors"]),
                shard_size=v["shard_size"] or 50,
            )
    except ValidationError as exc:
        for field, message in errors_of(exc, FORM_FIELDS).items():
            errors.setdefault(field, message)  # the form's message for an unreadable id stays
        return None
    return None if errors else params


def _submit(
    session: Session, settings: Settings, user: User, form: dict[str, str], errors: FieldErrors
) -> tuple[int | None, int]:
    """(new job id, 303) or (None, the refusal's HTTP status) with the messages in ``errors``."""
    params = _params(session, settings, form, user, errors)
    if params is None:
        return None, 422
    try:
        return job_service.submit_job(session, params=params, settings=settings, user_id=user.id).id, 303
    except DomainError as exc:  # something changed since the check: show each problem it lists
        session.rollback()
        listed = exc.details.get("errors")
        for item in listed if isinstance(listed, list) else [exc.to_dict()]:
            field = item.get("field") if item.get("field") in FORM_FIELDS else ""
            _add(errors, field or "", str(item.get("message", "")))
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
    sample_size: Annotated[str, Form()] = "",
    seed: Annotated[str, Form()] = "",
) -> Response:
    """Validate and submit; the job page follows (303), a refusal re-renders the form (4xx)."""
    form = {
        "kind": kind, "model_id": model_id, "dataset_id": dataset_id, "split": split,
        "mapping_version_id": mapping_version_id, "tta": tta, "tta_windows": tta_windows,
        "threshold": threshold,
        "output_name": output_name, "name": name, "use_priors": use_priors, "shard_size": shard_size,
        "max_images": max_images, "queue": queue, "allow_unapproved": allow_unapproved,
        "override_reason": override_reason, "sample_size": sample_size, "seed": seed,
    }  # fmt: skip
    errors: FieldErrors = {}
    job_id, status_code = _submit(session, settings, user, form, errors)
    if job_id is None:
        return _form_page(request, session, user, status_code=status_code, form=form, errors=errors)
    flash(request, f"Job {job_id} queued.")
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
