"""Result review of a pseudo-label run (web layer): gallery worst-first and per-source-label histogram.

Worst first means failed images first (their error type and message on the card), then images a
failed shard never reached, then the rest by correction rate, highest first.

Each gallery item shows the image, the ground truth, the unconstrained teacher and the pseudo-label
as overlays (one opacity slider, legends with names). The histogram table shows, per source label,
how its pixels were distributed over the target classes it may map to: the evidence a reviewer
needs to spot a wrong mapping edge. The unconstrained teacher map is the run's ``teacher/<output>``
file (written when the job's ``write_teacher`` is on, the default); runs made without it show that
layer as "not recorded".
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from app.db.models_registry import Job
from app.domain.errors import InvalidInput, NotFound
from app.domain.mapping import VOID, OntologyMapping
from app.domain.taxonomy import Taxonomy
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.web.auth import ReadUser
from app.web.deps import SessionDep
from app.web.pages import _overlay
from app.web.pages._render import Fragments, fragment, is_htmx, page
from app.web.pages._taxonomy_cache import load_taxonomy

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 12
NOT_LABELLED = "its shard failed or was cancelled before this image was labelled"


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


def _gallery(session: Session, job: Job, offset: int) -> dict[str, Any]:
    records, total = job_service.read_manifest(
        session, job.id, limit=PAGE_SIZE, offset=offset, worst_first=True
    )
    items = []
    for r in records:
        if r.get("status") == "error":
            items.append(r | {"error_type": r.get("error_type") or "failed", "error": r.get("error", "")})
            continue
        if r.get("status") != "ok":  # its shard failed or was cancelled before reaching it
            items.append(r | {"error_type": "not labelled", "error": NOT_LABELLED})
            continue
        teacher = f"teacher/{r['output']}"
        items.append(
            r
            | {
                "pseudo": f"labels/{r['output']}",
                "teacher": teacher if _has_artifact(session, job, teacher) else None,
            }
        )
    more = offset + PAGE_SIZE if offset + PAGE_SIZE < total else None
    return {"entries": items, "total": total, "offset": offset, "next_offset": more}


def _has_artifact(session: Session, job: Job, relpath: str) -> bool:
    try:
        job_service.artifact_path(session, job.id, relpath)
    except (NotFound, InvalidInput):
        return False
    return True


@router.get("/jobs/{job_id}/review", response_class=HTMLResponse)
def job_review_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    job_id: int,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Gallery (failed images, then worst correction rate first) and the per-source-label histogram;
    HTMX: next gallery page."""
    job = job_service.get_job(session, job_id)
    _check_reviewable(job)
    gallery = _gallery(session, job, offset)
    source, target, edges = _taxonomies(session, job)
    ctx: dict[str, Any] = {"job": job, "gallery": gallery}
    if is_htmx(request) and offset:
        return fragment(request, Fragments().add(request, "jobs/_gallery_items.html", **ctx))
    summary = job_service.read_summary(session, job_id)
    src_colors, tgt_colors = _overlay.palette(source), _overlay.palette(target)
    return page(
        request,
        "jobs/review.html",
        active_nav="jobs",
        summary=summary,
        source=source,
        target=target,
        columns=[(lb.value, lb.name, tgt_colors[lb.value]) for lb in target.labels],
        src_colors=src_colors,
        source_legend=[(lb.value, lb.name, src_colors[lb.value]) for lb in source.labels],
        rows=histogram_rows(summary, source, target, edges),
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
