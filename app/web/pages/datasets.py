"""Dataset pages (web layer): list, register form with inline errors, detail with scan and samples.

The sample overlays are PNGs drawn here with numpy/Pillow (``_overlay``); the web process never
loads torch. Scans run inline for small datasets and as a ``scan_dataset`` job for large ones,
exactly as the JSON API does.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models_registry import Dataset
from app.domain.errors import DomainError
from app.schemas.datasets import DatasetCreate, ScanReport
from app.schemas.jobs import ConvertLabelsParams, ScanDatasetParams
from app.services import dataset_presets as preset_service
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import taxonomies as taxonomy_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages import _overlay
from app.web.pages._access import can_edit
from app.web.pages._forms import errors_of, parse_int, split_list
from app.web.pages._render import flash, page
from app.web.pages._taxonomy_cache import load_taxonomy

router = APIRouter(include_in_schema=False)

ENCODINGS = (
    ("ids8", "ids8 — 8-bit pixel values"),
    ("ids16", "ids16 — 16-bit pixel values"),
    ("panoptic16", "panoptic16 — class = value // 1000"),
    ("rgb", "rgb — colours of the taxonomy"),
)
FORM_FIELDS = (
    "name", "taxonomy_id", "root", "rule", "preset", "variant", "image_pattern", "label_template",
    "list_file", "label_encoding", "splits", "description", "any_class_values",
)  # fmt: skip
SAMPLE_COUNT = 6


def _taxonomy_names(session: Session) -> dict[int, str]:
    rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
    return {t.id: t.name for t in rows}


@router.get("/datasets", response_class=HTMLResponse)
def dataset_list_page(request: Request, session: SessionDep, user: ReadUser) -> Response:
    """Registered datasets: taxonomy, root, pairs, problems, last scan."""
    rows, total = dataset_service.list_datasets(session, limit=500)
    return page(
        request,
        "datasets/list.html",
        active_nav="datasets",
        items=rows,
        total=total,
        taxonomy_names=_taxonomy_names(session),
        can_edit=can_edit(user),
    )


def _new_page(
    request: Request, session: Session, settings: Settings, *, status_code: int = 200, **context: Any
) -> Response:
    rows, _ = taxonomy_service.list_taxonomies(session, limit=500)
    context.setdefault("form", {"rule": "preset", "label_encoding": "ids8"})
    context.setdefault("errors", {})
    return page(
        request,
        "datasets/new.html",
        status_code=status_code,
        active_nav="datasets",
        taxonomies=[(t.id, f"{t.name} ({t.label_count} labels)") for t in rows],
        encodings=ENCODINGS,
        presets=preset_service.list_presets(),
        roots=[str(r) for r in dataset_service.allowed_roots(settings)],
        **context,
    )


@router.get("/datasets/new", response_class=HTMLResponse)
def dataset_new_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser
) -> Response:
    """The registration form: root folder and a preset, or a pairing rule, label encoding and splits."""
    return _new_page(request, session, settings)


def _preset_body(form: dict[str, str], errors: dict[str, str]) -> DatasetCreate | None:
    """A preset registration: root + preset; name, taxonomy and variant only when given."""
    taxonomy_id = parse_int(form["taxonomy_id"], "taxonomy_id", errors, required=False)
    if not form["preset"].strip():
        errors["preset"] = "choose the dataset's preset (or the Pattern or List file rule)"
    any_class = _int_list(form["any_class_values"], errors)
    if errors:
        return None
    try:
        return DatasetCreate(
            name=form["name"].strip() or None,
            description=form["description"],
            taxonomy_id=taxonomy_id,
            root=form["root"].strip(),
            preset=form["preset"].strip(),
            variant=form["variant"].strip() or None,
            any_class_values=any_class,
        )
    except ValidationError as exc:
        errors.update(errors_of(exc, FORM_FIELDS))
        return None


def _int_list(text: str, errors: dict[str, str]) -> list[int] | None:
    """Comma/space separated pixel values, e.g. ``1, 255``; None when empty (a bad one: an error)."""
    parts = text.replace(",", " ").split()
    if not all(p.isdigit() for p in parts):
        errors["any_class_values"] = "give pixel values as whole numbers, e.g. 1, 255"
        return None
    return [int(p) for p in parts] or None


def _body_from_form(form: dict[str, str], errors: dict[str, str]) -> DatasetCreate | None:
    if form["rule"] == "preset":
        return _preset_body(form, errors)
    taxonomy_id = parse_int(form["taxonomy_id"], "taxonomy_id", errors)
    if not form["name"].strip():
        errors["name"] = "give the dataset a name"
    pattern = form["rule"] != "list"
    if pattern and not form["image_pattern"].strip():
        errors["image_pattern"] = "give the image pattern, e.g. images/{split}/{stem}.png"
    if not pattern and not form["list_file"].strip():
        errors["list_file"] = "give the list file (relative to the root)"
    any_class = _int_list(form["any_class_values"], errors)
    if errors or taxonomy_id is None:
        return None
    try:
        return DatasetCreate(
            name=form["name"],
            description=form["description"],
            taxonomy_id=taxonomy_id,
            root=form["root"].strip(),
            image_pattern=form["image_pattern"].strip() if pattern else None,
            label_template=(form["label_template"].strip() or None) if pattern else None,
            list_file=None if pattern else form["list_file"].strip(),
            label_encoding=form["label_encoding"],
            splits=split_list(form["splits"]),
            any_class_values=any_class,
        )
    except ValidationError as exc:
        errors.update(errors_of(exc, FORM_FIELDS))
        return None


def _scan_after_register(session: Session, settings: Settings, row: Dataset, user_id: int) -> int | None:
    """Scan now (small) or submit a scan job (large); returns the job id in the second case."""
    if len(dataset_service.pair_dataset(row).pairs) <= dataset_service.INLINE_SCAN_LIMIT:
        dataset_service.scan_dataset(session, row.id)
        return None
    job = job_service.submit_job(
        session, params=ScanDatasetParams(dataset_id=row.id), settings=settings, user_id=user_id
    )
    return job.id


@router.post("/datasets/new", response_class=HTMLResponse)
def dataset_create_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    name: Annotated[str, Form()] = "",
    taxonomy_id: Annotated[str, Form()] = "",
    root: Annotated[str, Form()] = "",
    rule: Annotated[str, Form()] = "pattern",
    preset: Annotated[str, Form()] = "",
    variant: Annotated[str, Form()] = "",
    image_pattern: Annotated[str, Form()] = "",
    label_template: Annotated[str, Form()] = "",
    list_file: Annotated[str, Form()] = "",
    label_encoding: Annotated[str, Form()] = "ids8",
    splits: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
    any_class_values: Annotated[str, Form()] = "",
) -> Response:
    """Register and scan; a refusal re-renders the form with the message under its field."""
    form = {
        "name": name, "taxonomy_id": taxonomy_id, "root": root, "rule": rule,
        "preset": preset, "variant": variant,
        "image_pattern": image_pattern, "label_template": label_template, "list_file": list_file,
        "label_encoding": label_encoding, "splits": splits, "description": description,
        "any_class_values": any_class_values,
    }  # fmt: skip
    errors: dict[str, str] = {}
    body = _body_from_form(form, errors)
    if body is None:
        return _new_page(request, session, settings, status_code=422, form=form, errors=errors)
    try:
        row = dataset_service.register_dataset(session, body=body, settings=settings, user_id=user.id)
        if row.label_converter:
            params = ConvertLabelsParams(dataset_id=row.id)
            job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
            flash(
                request,
                f"Registered {row.name!r}; converting its {row.label_converter} labels as job {job.id}.",
            )
            return RedirectResponse(f"/datasets/{row.id}", status_code=303)
        job_id = _scan_after_register(session, settings, row, user.id)
    except DomainError as exc:
        session.rollback()
        errors = errors_of(exc, FORM_FIELDS)
        return _new_page(request, session, settings, status_code=exc.status_code, form=form, errors=errors)
    if job_id is not None:
        flash(request, f"Registered {row.name!r}; scanning it as job {job_id}.", "info")
    else:
        flash(request, f"Registered {row.name!r}: {row.pair_count} pairs, {row.problem_count} problems.")
    return RedirectResponse(f"/datasets/{row.id}", status_code=303)


def _samples(row: Dataset) -> tuple[list[dict[str, Any]], str | None]:
    """Up to :data:`SAMPLE_COUNT` pairs spread over the dataset, or an error message."""
    try:
        pairs = dataset_service.pair_dataset(row).pairs
    except DomainError as exc:
        return [], exc.message
    step = max(1, len(pairs) // SAMPLE_COUNT)
    chosen = pairs[::step][:SAMPLE_COUNT]
    return [{"image": p.image, "label": p.label, "split": p.split} for p in chosen], None


@router.get("/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_detail_page(request: Request, session: SessionDep, user: ReadUser, dataset_id: int) -> Response:
    """Settings, the last scan report and sample images with their labels in the taxonomy's colours."""
    row = dataset_service.get_dataset(session, dataset_id)
    taxonomy = load_taxonomy(session, row.taxonomy_id)
    scan = ScanReport.model_validate_json(row.scan_json) if row.scan_json else None
    samples, sample_error = _samples(row)
    jobs, _ = job_service.list_jobs(session, dataset_id=row.id, limit=10)
    colors = _overlay.palette(taxonomy)
    return page(
        request,
        "datasets/detail.html",
        active_nav="datasets",
        d=row,
        splits=json.loads(row.splits_json or "[]"),
        any_class_values=dataset_service.any_class_values(row),
        taxonomy=taxonomy,
        label_legend=[(lb.value, lb.name, colors[lb.value]) for lb in taxonomy.labels],
        own_palette=preset_service.stored_palette(row),
        scan=scan,
        samples=samples,
        sample_error=sample_error,
        jobs=jobs,
        can_edit=can_edit(user),
    )


@router.post("/datasets/{dataset_id}/scan", response_class=HTMLResponse)
def dataset_scan_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser, dataset_id: int
) -> Response:
    """Re-scan now (or as a job for a large dataset), then back to the detail page."""
    row = dataset_service.get_dataset(session, dataset_id)
    job_id = _scan_after_register(session, settings, row, user.id)
    if job_id is not None:
        flash(request, f"Scanning as job {job_id}.", "info")
        return RedirectResponse(f"/jobs/{job_id}", status_code=303)
    flash(request, f"Scanned: {row.pair_count} pairs, {row.problem_count} problems.")
    return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)


@router.post("/datasets/{dataset_id}/convert", response_class=HTMLResponse)
def dataset_convert_page(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser, dataset_id: int
) -> Response:
    """Convert the dataset's native labels (again: finished files are kept) as a job; to its page."""
    params = ConvertLabelsParams(dataset_id=dataset_id)
    try:
        job = job_service.submit_job(session, params=params, settings=settings, user_id=user.id)
    except DomainError as exc:
        session.rollback()
        flash(request, exc.message, "error")
        return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)
    flash(request, f"Converting the labels as job {job.id}.", "info")
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/datasets/{dataset_id}/overlay/{path:path}")
def dataset_overlay_png(session: SessionDep, user: ReadUser, dataset_id: int, path: str) -> Response:
    """A ground-truth label file painted in the taxonomy's colours (RGBA PNG)."""
    row = dataset_service.get_dataset(session, dataset_id)
    file = dataset_service.dataset_file_path(session, dataset_id, path)
    taxonomy = load_taxonomy(session, row.taxonomy_id)
    palette = dataset_service.label_palette(row, taxonomy)
    data = _overlay.ground_truth_png(file, row.label_encoding, taxonomy, palette)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
