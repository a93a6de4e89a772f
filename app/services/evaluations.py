"""Evaluation results (services layer): read an evaluate job's stored result as typed fields, list
the evaluations of a model or dataset, and compare several evaluations class by class.

The worker stores each evaluate job's result in the job row (``worker.ml.evaluate``): metrics with
per-class IoU, the ``N × (N+1)`` confusion counts, the class names and the run's provenance. This
module adds what the row only holds as ids: the model, dataset and mapping names, the class
colours of the model's taxonomy. Evaluations can be compared when they ran on the same dataset,
split, mapping content (hash), image limit and classes.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.db.models_registry import Job
from app.domain import evaluation as ev
from app.domain.errors import InvalidInput, NotFound
from app.services import datasets as dataset_service
from app.services import jobs as job_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service

MAX_COMPARED = 8
LISTED = 500


def _result(job: Job) -> dict[str, Any]:
    if job.kind != "evaluate":
        raise NotFound(f"job {job.id} is a {job.kind} job, not an evaluation", field="job_id")
    if not job.result_json:
        raise NotFound(f"evaluation job {job.id} has no result yet (status {job.status})", field="job_id")
    return dict(json.loads(job.result_json))


def _names(session: Session, job: Job) -> dict[str, Any]:
    """Model, dataset and mapping names of a job (``#id`` when a row has since been deleted)."""
    out: dict[str, Any] = {"model_name": f"#{job.model_id}", "dataset_name": f"#{job.dataset_id}"}
    out |= {"mapping_id": None, "mapping_name": None, "mapping_version": None, "taxonomy_id": None}
    with contextlib.suppress(NotFound):
        model = model_service.get_model(session, int(job.model_id or 0))
        out |= {"model_name": model.name, "taxonomy_id": model.taxonomy_id}
    with contextlib.suppress(NotFound):
        out["dataset_name"] = dataset_service.get_dataset(session, int(job.dataset_id or 0)).name
    if job.mapping_version_id is not None:
        with contextlib.suppress(NotFound):
            version = mapping_service.get_version(session, job.mapping_version_id)
            mapping = mapping_service.get_mapping(session, version.mapping_id)
            out |= {"mapping_id": mapping.id, "mapping_name": mapping.name, "mapping_version": version.number}
    return out


def _summary(session: Session, job: Job, result: dict[str, Any]) -> dict[str, Any]:
    metrics = result.get("metrics") or {}
    names = _names(session, job)
    params = json.loads(job.params_json or "{}")
    return {
        "job_id": job.id,
        "name": job.name,
        "status": job.status,
        "model_id": job.model_id,
        "dataset_id": job.dataset_id,
        "split": params.get("split"),
        "mapping_version_id": job.mapping_version_id,
        "mapping_hash": job.mapping_hash or result.get("mapping_hash"),
        "miou": metrics.get("miou"),
        "miou_all": metrics.get("miou_all"),
        "pixel_accuracy": metrics.get("pixel_accuracy"),
        "pixels": int(metrics.get("pixels", 0)),
        "images_evaluated": int(result.get("evaluated", 0)),
        "images_failed": int(result.get("failed", 0)),
        "finished_at": job.finished_at,
        **{k: v for k, v in names.items() if k != "taxonomy_id"},
    }


def _colors(session: Session, taxonomy_id: int | None) -> dict[str, str | None]:
    if taxonomy_id is None:
        return {}
    try:
        return {lb.name: lb.color for lb in taxonomy_service.load_taxonomy(session, taxonomy_id).labels}
    except NotFound:
        return {}


def evaluation(session: Session, job_id: int) -> dict[str, Any]:
    """The fields of ``EvaluationRead`` for an evaluate job with a result (else ``NotFound``)."""
    job = job_service.get_job(session, job_id)
    result = _result(job)
    metrics = result.get("metrics") or {}
    per_class = list(metrics.get("per_class") or [])
    confusion = [[int(c) for c in row] for row in result.get("confusion") or []]
    names = [str(n) for n in result.get("class_names") or [c.get("name", i) for i, c in enumerate(per_class)]]
    taxonomy_id = _names(session, job)["taxonomy_id"]
    colors = _colors(session, taxonomy_id)
    scores = ev.class_scores(per_class, confusion)
    model = result.get("model") or {}
    return _summary(session, job, result) | {
        "seconds": result.get("seconds"),
        "class_names": names,
        "per_class": [
            {
                "id": s.id,
                "name": s.name,
                "color": colors.get(s.name),
                "iou": s.iou,
                "accuracy": s.accuracy,
                "gt_pixels": s.gt_pixels,
                "pred_pixels": s.pred_pixels,
            }
            for s in scores
        ],
        "confusion": confusion,
        "per_split": [
            {
                "split": str(name),
                **{k: m.get(k) for k in ("images", "pixels", "miou", "miou_all", "pixel_accuracy")},
            }
            for name, m in (result.get("per_split") or {}).items()
        ],
        "versions": {str(k): str(v) for k, v in (result.get("versions") or {}).items()},
        "device": result.get("device"),
        "tta_views": [str(v) for v in result.get("tta_views") or []],
        "model_checksum": model.get("checksum"),
    }


def _succeeded(session: Session, *, model_id: int | None, dataset_id: int | None, limit: int) -> list[Job]:
    rows, _ = job_service.list_jobs(
        session, kind="evaluate", status="succeeded", model_id=model_id, dataset_id=dataset_id, limit=limit
    )
    return [j for j in rows if j.result_json]


def list_evaluations(
    session: Session, *, model_id: int | None = None, dataset_id: int | None = None
) -> list[dict[str, Any]]:
    """``EvaluationSummary`` fields of the succeeded evaluations, newest first."""
    jobs = _succeeded(session, model_id=model_id, dataset_id=dataset_id, limit=LISTED)
    return [_summary(session, j, _result(j)) for j in jobs]


def newest_evaluations(session: Session, *, model_id: int, limit: int) -> list[dict[str, Any]]:
    """``EvaluationRead`` fields of a model's ``limit`` newest succeeded evaluations, newest first."""
    return [
        evaluation(session, j.id)
        for j in _succeeded(session, model_id=model_id, dataset_id=None, limit=limit)
    ]


def _comparable_key(job: Job, result: dict[str, Any]) -> tuple[Any, ...]:
    params = json.loads(job.params_json or "{}")
    names = tuple(result.get("class_names") or ())
    return job.dataset_id, params.get("split"), job.mapping_hash, params.get("max_images"), names


def _refuse_mixed(jobs: Sequence[Job], results: Sequence[dict[str, Any]]) -> None:
    keys = [_comparable_key(j, r) for j, r in zip(jobs, results, strict=True)]
    labels = ("dataset", "split", "mapping content (hash)", "image limit", "classes")
    for index, label in enumerate(labels):
        values = {k[index] for k in keys}
        if len(values) > 1:
            ids = ", ".join(f"#{j.id}" for j in jobs)
            raise InvalidInput(
                f"evaluations {ids} differ in {label}: compare evaluations of the same dataset, split "
                "and mapping",
                field="job_id",
            )


def compare(session: Session, job_ids: Sequence[int]) -> dict[str, Any]:
    """The fields of ``EvaluationComparison`` for 2..8 evaluations of the same data, in the given order."""
    unique = list(dict.fromkeys(job_ids))
    if not 2 <= len(unique) <= MAX_COMPARED:
        raise InvalidInput(
            f"choose between 2 and {MAX_COMPARED} different evaluations to compare, got {len(unique)}",
            field="job_id",
        )
    jobs = [job_service.get_job(session, i) for i in unique]
    results = [_result(j) for j in jobs]
    _refuse_mixed(jobs, results)
    reads = [evaluation(session, j.id) for j in jobs]
    first = reads[0]
    ious = [[c["iou"] for c in r["per_class"]] for r in reads]
    colors = {c["name"]: c["color"] for c in first["per_class"]}
    rows = ev.compare_classes(first["class_names"], ious)
    summary_keys = set(_summary(session, jobs[0], results[0]))
    return {
        "dataset_id": first["dataset_id"],
        "dataset_name": first["dataset_name"],
        "split": first["split"],
        "mapping_hash": first["mapping_hash"],
        "evaluations": [{k: v for k, v in r.items() if k in summary_keys} for r in reads],
        "classes": [
            {
                "id": r.id,
                "name": r.name,
                "color": colors.get(r.name),
                "ious": list(r.ious),
                "deltas": list(r.deltas),
                "best": r.best,
            }
            for r in rows
        ],
    }


def run_label(summary: dict[str, Any]) -> str:
    """How a compared evaluation is named in column headers: ``<model> (#<job>)``."""
    return f"{summary['model_name']} (#{summary['job_id']})"


def per_class_csv(report: dict[str, Any]) -> str:
    scores = [
        ev.ClassScore(c["id"], c["name"], c["iou"], c["gt_pixels"], c["pred_pixels"], c["accuracy"])
        for c in report["per_class"]
    ]
    return ev.per_class_csv(scores)


def confusion_csv(report: dict[str, Any]) -> str:
    return ev.confusion_csv(report["class_names"], report["confusion"])


def compare_csv(comparison: dict[str, Any]) -> str:
    rows = [
        ev.ComparedClass(c["id"], c["name"], tuple(c["ious"]), tuple(c["deltas"]), c["best"])
        for c in comparison["classes"]
    ]
    return ev.compare_csv([run_label(s) for s in comparison["evaluations"]], rows)
