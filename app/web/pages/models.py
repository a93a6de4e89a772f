"""Model pages (web layer): list, register form with inline errors, detail (taxonomy, normalisation,
provenance, validation status, pickle trust). No weights are loaded here; the worker validates what
needs torch. Trusting a ``.pth`` (the form's checkbox, the detail page's button) is for admins only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.config import Settings
from app.domain.errors import DomainError
from app.schemas.models import ModelCreate, NormalizationSchema
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import model_provenance, model_trust
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services.users import has_role
from app.web.auth import AdminUser, EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages import _overlay
from app.web.pages._access import can_edit
from app.web.pages._forms import FieldErrors, errors_of, parse_int
from app.web.pages._provenance import provenance_card
from app.web.pages._render import flash, page
from app.web.pages._taxonomy_cache import load_taxonomy
from app.web.pages.evaluation import model_evaluations

router = APIRouter(include_in_schema=False)

SOURCES = (
    ("folder", "Folder (unilabel or Hugging Face checkpoint)"),
    ("hf_id", "Hugging Face id (from the local cache)"),
    ("paper_pth", "Paper .pth checkpoint"),
)
FORM_FIELDS = ("name", "role", "source", "spec", "taxonomy_id", "mean", "std", "trust_pickle", "description")


@router.get("/models", response_class=HTMLResponse)
def model_list_page(request: Request, session: SessionDep, user: ReadUser) -> Response:
    """Registered teachers and students with their target taxonomy."""
    rows, total = model_service.list_models(session, limit=500)
    tax_rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
    return page(
        request,
        "models/list.html",
        active_nav="models",
        items=rows,
        total=total,
        taxonomy_names={t.id: t.name for t in tax_rows},
        on_disk={r.id: model_service.model_exists_on_disk(r) for r in rows},
        can_edit=can_edit(user),
    )


def _new_page(
    request: Request, session: Session, settings: Settings, *, status_code: int = 200, **context: Any
) -> Response:
    rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
    targets = [
        (t.id, f"{t.name} ({t.label_count} classes)")
        for t in rows
        if load_taxonomy(session, t.id).is_class_list()
    ]
    context.setdefault("form", {"source": "folder", "role": "teacher"})
    context.setdefault("errors", {})
    context.setdefault("class_lists", None)
    context.setdefault("can_trust", False)
    return page(
        request,
        "models/new.html",
        status_code=status_code,
        active_nav="models",
        targets=targets,
        sources=SOURCES,
        roots=[str(r) for r in dataset_service.allowed_roots(settings)],
        **context,
    )


@router.get("/models/new", response_class=HTMLResponse)
def model_new_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> Response:
    """The registration form."""
    return _new_page(request, session, settings, can_trust=has_role(user, "admin"))


def _triple(text: str, field: str, errors: FieldErrors) -> tuple[float, float, float] | None:
    parts = text.replace(",", " ").split()
    if not parts:
        return None
    try:
        a, b, c = (float(p) for p in parts)
    except ValueError:
        errors[field] = f"give three numbers (R G B on the 0–255 scale), got {text!r}"
        return None
    return a, b, c


def _body_from_form(form: dict[str, str], errors: FieldErrors) -> ModelCreate | None:
    taxonomy_id = parse_int(form["taxonomy_id"], "taxonomy_id", errors)
    mean, std = _triple(form["mean"], "mean", errors), _triple(form["std"], "std", errors)
    if (mean is None) != (std is None) and not errors:
        errors["std" if std is None else "mean"] = "give both mean and std, or neither"
    if errors or taxonomy_id is None:
        return None
    try:
        norm = NormalizationSchema(mean=mean, std=std) if mean and std else None
        return ModelCreate(
            name=form["name"],
            description=form["description"],
            role=form["role"],
            source=form["source"],
            spec=form["spec"].strip(),
            taxonomy_id=taxonomy_id,
            normalization=norm,
            trust_pickle=bool(form["trust_pickle"]),
        )
    except ValidationError as exc:
        errors.update(errors_of(exc, FORM_FIELDS))
        return None


@router.post("/models/new", response_class=HTMLResponse)
def model_create_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "teacher",
    source: Annotated[str, Form()] = "folder",
    spec: Annotated[str, Form()] = "",
    taxonomy_id: Annotated[str, Form()] = "",
    mean: Annotated[str, Form()] = "",
    std: Annotated[str, Form()] = "",
    trust_pickle: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    """Register; a refusal (path outside the roots, class mismatch …) re-renders the form inline."""
    if trust_pickle and not has_role(user, "admin"):
        model_trust.require_admin(None)  # 403 before the form is looked at
    can_trust = has_role(user, "admin")
    form = {
        "name": name, "role": role, "source": source, "spec": spec, "taxonomy_id": taxonomy_id,
        "mean": mean, "std": std, "trust_pickle": trust_pickle, "description": description,
    }  # fmt: skip
    errors: FieldErrors = {}
    body = _body_from_form(form, errors)
    if body is None:
        return _new_page(
            request, session, settings, status_code=422, form=form, errors=errors, can_trust=can_trust
        )
    try:
        row = model_service.register_model(session, body=body, settings=settings, user=user)
    except DomainError as exc:
        session.rollback()
        errors = errors_of(exc, FORM_FIELDS)
        lists = exc.details if "model_classes" in (exc.details or {}) else None
        return _new_page(
            request,
            session,
            settings,
            status_code=exc.status_code,
            form=form,
            errors=errors,
            class_lists=lists,
            can_trust=can_trust,
        )
    flash(request, f"Registered model {row.name!r}.")
    return RedirectResponse(f"/models/{row.id}", status_code=303)


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_detail_page(request: Request, session: SessionDep, user: ReadUser, model_id: int) -> Response:
    """Source, target taxonomy with colours, normalisation, provenance and validation status."""
    row = model_service.get_model(session, model_id)
    payload = model_service.model_payloads(session, [row])[0]
    taxonomy = load_taxonomy(session, row.taxonomy_id)
    colors = _overlay.palette(taxonomy)
    jobs, _ = job_service.list_jobs(session, model_id=row.id, limit=10)
    card = provenance_card(
        payload["provenance"],
        model_provenance.checkpoint_provenance(row),
        model_provenance.referenced_names(session, payload["provenance"]),
    )
    return page(
        request,
        "models/detail.html",
        active_nav="models",
        m=payload,
        taxonomy=taxonomy,
        classes=[(lb.value, lb.name, colors[lb.value]) for lb in taxonomy.labels],
        on_disk=model_service.model_exists_on_disk(row),
        jobs=jobs,
        card=card,
        evaluations=model_evaluations(session, row.id),
        can_edit=can_edit(user),
        can_trust=has_role(user, "admin"),
    )


@router.post("/models/{model_id}/trust", response_class=HTMLResponse)
def model_trust_page(
    request: Request,
    session: SessionDep,
    user: AdminUser,
    model_id: int,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Admins only: trust the .pth as it is now (who, when, sha256 recorded); a worker converts it."""
    try:
        row = model_trust.trust_model(session, model_id=model_id, user=user, note=note)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/models/{model_id}", status_code=303)
    flash(request, f"Trusted {row.name!r} (sha256 {str(row.trusted_sha256)[:12]}…); a worker converts it.")
    return RedirectResponse(f"/models/{model_id}", status_code=303)
