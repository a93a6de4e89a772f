"""What an experiment shows (services layer): runs with their stages, staleness, provenance.

Read-only: nothing here changes state, so pages and the API can call it on every poll.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_experiments as repo
from app.db import repositories_registry as registry
from app.db.models_experiments import Experiment, ExperimentRun
from app.db.models_registry import Job
from app.domain.experiments import TEACHER, Stage, StageKind
from app.services import pseudo_label_updates as updates
from app.services.experiment_runs import graph_of
from app.services.pseudo_label_updates import newest_approved


def code_version() -> str:
    try:
        return version("unilabel")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def stage_title(stage: Stage, resolved: dict[str, Any]) -> str:
    if stage.kind == StageKind.TRAIN_TEACHER:
        return "Train the teacher on the sources"
    if stage.kind == StageKind.TRAIN_STUDENT:
        return f"Train the student (round {stage.round})"
    if stage.kind == StageKind.PSEUDO_LABEL:
        return f"Pseudo-label {resolved['extras'][int(stage.index or 0)]['name']} (round {stage.round})"
    target = resolved["evaluation"][int(stage.index or 0)]["name"]
    who = "the teacher" if stage.model == TEACHER else f"the student (round {stage.round})"
    return f"Evaluate {who} on {target}"


def _progress(job: Job | None) -> float:
    if job is None:
        return 0.0
    if job.status == "succeeded":
        return 1.0
    return 0.0 if job.progress_total <= 0 else min(1.0, job.progress_current / job.progress_total)


def _update_of(job: Job | None) -> int | None:
    if job is None:
        return None
    value = json.loads(job.params_json).get("update_from_job_id")
    return int(value) if value else None


def run_payload(session: Session, run: ExperimentRun) -> dict[str, Any]:
    """A run with every stage of its graph: submitted ones with their job, the rest waiting."""
    resolved = json.loads(run.resolved_json)
    existing = {stage.key: (stage, job) for stage, job in repo.stage_jobs(session, run.id)}
    stages = []
    for node in graph_of(resolved):
        row, job = existing.get(node.key, (None, None))
        stages.append(
            {
                "key": node.key,
                "kind": node.kind.value,
                "round": node.round,
                "job_id": row.job_id if row is not None else None,
                "status": (job.status if job is not None else "missing") if row is not None else "waiting",
                "progress_fraction": _progress(job),
                "reused": bool(row.reused) if row is not None else False,
                "update_of_job_id": _update_of(job),
                "title": stage_title(node, resolved),
            }
        )
    return {
        "id": run.id,
        "number": run.number,
        "status": run.status,
        "reason": run.reason,
        "message": run.message,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "stages": stages,
        "done": sum(1 for s in stages if s["status"] == "succeeded"),
        "total": len(stages),
    }


def _stale_extra(session: Session, run: ExperimentRun, index: int, pinned: dict[str, Any]) -> dict[str, Any]:
    newest = newest_approved(session, pinned["mapping_id"])
    entry: dict[str, Any] = {
        "extra": pinned["name"],
        "pinned_version": pinned["version"],
        "newest_version": newest.number if newest is not None else None,
        "stale": newest is not None and newest.number > pinned["version"],
        "changed_labels": [],
        "affected_images": None,
        "total_images": None,
        "summary": "",
    }
    if newest is None or not entry["stale"]:
        entry["summary"] = f"up to date (v{pinned['version']})"
        return entry
    stages = {stage.key: job for stage, job in repo.stage_jobs(session, run.id)}
    job = stages.get(f"pl:r1:{index}")
    if job is not None and job.status == "succeeded":
        report = updates.staleness(session, job.id, newest.id)
        entry.update(
            changed_labels=list(report.changed_labels),
            affected_images=report.affected_images,
            total_images=report.total_images,
        )
        entry["summary"] = report.message
    else:
        entry["summary"] = f"stale: mapping v{newest.number} is approved (this run pins v{pinned['version']})"
    return entry


def staleness(session: Session, experiment: Experiment) -> list[dict[str, Any]]:
    """Per extra of the latest run: its pinned version, the newest approved one, what it touches."""
    runs = repo.list_runs(session, experiment.id)
    if not runs:
        return []
    run = runs[-1]
    resolved = json.loads(run.resolved_json)
    return [_stale_extra(session, run, i, pinned) for i, pinned in enumerate(resolved["extras"])]


def experiment_payload(
    session: Session, experiment: Experiment, *, with_staleness: bool = True
) -> dict[str, Any]:
    return {
        "id": experiment.id,
        "name": experiment.name,
        "description": experiment.description,
        "spec": json.loads(experiment.spec_json),
        "spec_hash": experiment.spec_hash,
        "created_at": experiment.created_at,
        "runs": [run_payload(session, run) for run in repo.list_runs(session, experiment.id)],
        "staleness": staleness(session, experiment) if with_staleness else [],
    }


def _model_entry(session: Session, model_id: int | None, role: str) -> dict[str, Any] | None:
    model = registry.get_model(session, model_id) if model_id else None
    if model is None:
        return None
    return {"kind": "model", "role": role, "id": model.id, "name": model.name, "hash": model.checksum}


def provenance(session: Session, experiment: Experiment, run: ExperimentRun) -> dict[str, Any]:
    """The provenance card: every input of the run with its hash, and every job it ran or reused."""
    resolved = json.loads(run.resolved_json)
    inputs: list[dict[str, Any]] = [
        {"kind": "spec", "name": experiment.name, "hash": experiment.spec_hash},
        {"kind": "code", "name": "unilabel", "hash": code_version()},
    ]
    teacher = _model_entry(session, resolved["teacher"]["model_id"], "teacher")
    if teacher is not None:
        inputs.append(teacher)
    for field in ("sources", "extras", "evaluation"):
        for pinned in resolved[field]:
            inputs.append(
                {
                    "kind": "dataset",
                    "role": field,
                    "id": pinned["dataset_id"],
                    "name": pinned["name"],
                    "hash": pinned.get("files_hash"),
                    "mapping": f"{pinned['mapping']} v{pinned['version']}",
                    "mapping_hash": pinned["mapping_hash"],
                    "split": pinned["split"],
                }
            )
    jobs = []
    for stage, job in repo.stage_jobs(session, run.id):
        jobs.append(
            {
                "key": stage.key,
                "job_id": stage.job_id,
                "reused": stage.reused,
                "fingerprint": stage.fingerprint,
                "mapping_hash": job.mapping_hash if job is not None else None,
                "status": job.status if job is not None else "missing",
            }
        )
    return {
        "experiment_id": experiment.id,
        "run": run.number,
        "reason": run.reason,
        "inputs": inputs,
        "jobs": jobs,
    }
