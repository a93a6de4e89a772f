"""Result review of a pseudo-label run (web layer): per-source-label histogram and the image gallery.

The gallery (:mod:`app.web.pages._gallery_view`) filters the run's images by a source label and a
target class they contain, sorts them by correction rate, void share or file name and shows one
page; its state lives in the URL. By default it is worst first: failed images (their error type and
message on the card), then images a failed shard never reached, then the rest by correction rate,
highest first. Each card shows the image, the ground truth, the unconstrained teacher and the
pseudo-label as overlays; a click opens the large view (``static/js/gallery.js``) with per-layer
toggles and keyboard navigation.

The histogram table shows, per source label, how its pixels were distributed over the target classes
it may map to: the evidence a reviewer needs to spot a wrong mapping edge. The unconstrained teacher
map is the run's ``teacher/<output>`` file (written when the job's ``write_teacher`` is on, the
default); runs made without it show that layer as "not recorded".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.db.models_registry import Job
from app.domain.errors import InvalidInput, NotFound
from app.domain.gallery import DEFAULT_ORDER, DEFAULT_SORT
from app.domain.mapping import VOID, OntologyMapping
from app.domain.taxonomy import Taxonomy
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.web.auth import ReadUser
from app.web.deps import SessionDep
from app.web.pages import _overlay
from app.web.pages._access import can_edit
from app.web.pages._gallery_view import GalleryFilters, build_gallery
from app.web.pages._render import Fragments, fragment, is_htmx, page
from app.web.pages._taxonomy_cache import load_taxonomy

router = APIRouter(include_in_schema=False)


def _taxonomies(session: Session, job: Job) -> tuple[Taxonomy, Taxonomy, OntologyMapping]:
    """(source, target, edges) of the job's pinned mapping version."""
    if job.mapping_version_id is None:
        raise NotFound(f"job {job.id} has no mapping version to review against", field="job_id")
    version = mapping_service.get_version(session, job.mapping_version_id)
    mapping = mapping_service.get_mapping(session, version.mapping_id)
    source = load_taxonomy(session, mapping.source_taxonomy_id)
    target = load_taxonomy(session, mapping.target_taxonomy_id)
    return source, target, mapping_service.version_edges(version)


def _check_reviewable(job: Job) -> None:
    if job.kind != "pseudo_label":
        raise InvalidInput(
            f"job {job.id} is a {job.kind} job; only pseudo-label runs have a review", field="job_id"
        )


def histogram_rows(
    summary: dict[str, Any], source: Taxonomy, target: Taxonomy, edges: OntologyMapping
) -> list[dict[str, Any]]:
    """Per source label: total pixels and, per target column (classes, then void), count, share, edge.

    Uses ``histogram_named`` ({source name: {target name | "void": pixels}}) of ``summary.json``.
    """
    named: dict[str, dict[str, int]] = summary.get("histogram_named") or {}
    columns = [*target.names, "void"]
    rows = []
    for name, counts in named.items():
        total = sum(counts.values())
        allowed = set(edges.targets_of(name)) if name in source.names else set()
        cells = []
        for i, col in enumerate(columns):
            tid = VOID if col == "void" else i
            n = int(counts.get(col, 0))
            cells.append({"count": n, "share": n / total if total else 0.0, "edge": tid in allowed})
        label = source.label_by_name(name) if name in source.names else None
        rows.append({"name": name, "value": label.value if label else None, "total": total, "cells": cells})
    order = {n: i for i, n in enumerate(source.names)}
    rows.sort(key=lambda r: order.get(str(r["name"]), len(order)))
    return rows


@router.get("/jobs/{job_id}/review", response_class=HTMLResponse)
def job_review_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    job_id: int,
    source: str = "",
    target: str = "",
    review: str = "",
    sort: str = DEFAULT_SORT,
    order: str = DEFAULT_ORDER,
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> Response:
    """Per-source-label histogram and the gallery (filtered, sorted, one page); HTMX: the gallery only.

    The URL holds the gallery state (see :class:`GalleryFilters`); a bad filter or sort is shown
    next to the filters with status 422.
    """
    job = job_service.get_job(session, job_id)
    _check_reviewable(job)
    source_tax, target_tax, edges = _taxonomies(session, job)
    filters = GalleryFilters(source, target, sort, order, page_number, review)
    gallery = build_gallery(session, job, filters, source_tax, target_tax)
    status = 200 if not gallery.errors else 422
    ctx: dict[str, Any] = {"job": job, "gallery": gallery, "can_edit": can_edit(user)}
    if is_htmx(request) and request.headers.get("HX-Target") == "gallery-results":
        response = fragment(
            request,
            Fragments().add(request, "jobs/_gallery.html", **ctx),
            status_code=status,
            reswap="outerHTML" if status != 200 else None,
        )
        response.headers["HX-Push-Url"] = gallery.filters.url(job.id)
        return response
    summary = job_service.read_summary(session, job_id)
    src_colors, tgt_colors = _overlay.palette(source_tax), _overlay.palette(target_tax)
    return page(
        request,
        "jobs/review.html",
        status_code=status,
        active_nav="jobs",
        summary=summary,
        source=source_tax,
        target=target_tax,
        columns=[(lb.value, lb.name, tgt_colors[lb.value]) for lb in target_tax.labels],
        src_colors=src_colors,
        source_legend=[(lb.value, lb.name, src_colors[lb.value]) for lb in source_tax.labels],
        rows=histogram_rows(summary, source_tax, target_tax, edges),
        **ctx,
    )


@router.get("/jobs/{job_id}/overlay/{path:path}")
def job_overlay_png(session: SessionDep, user: ReadUser, job_id: int, path: str) -> Response:
    """An output label file (``labels/...`` or ``teacher/...``) painted in the target's colours."""
    job = job_service.get_job(session, job_id)
    _check_reviewable(job)
    file = job_service.artifact_path(session, job_id, path)
    _, target, _ = _taxonomies(session, job)
    data = _overlay.pseudo_label_png(file, target)
    return Response(data, media_type="image/png", headers={"Cache-Control": "private, max-age=300"})
