"""Stale pseudo-label runs and their incremental updates (services layer; no torch).

A succeeded ``pseudo_label`` run pins a mapping version. When a newer version of that mapping
changes the allowed set of some source labels, only the images containing those labels would get
different labels (:mod:`app.domain.staleness`).

* :func:`staleness` — how stale a run is against a newer version (by default the newest approved
  one): "stale: 1,234 of 18,558 images contain labels whose allowed set changed (fence, rider)".
* :func:`update_params` — the params of the update run that brings a run to a newer version (what
  the job page's *Update* button submits; the CLI's ``--update-from`` copies the same
  :data:`UPDATE_KEEPS`).
* :func:`check_update` — the submission check of an update run (``PseudoLabelParams.
  update_from_job_id``): same teacher, dataset, split and options as the earlier succeeded run, and
  a newer version of the same mapping. Every mismatch is named, all at once.
* :func:`update_work` — what the update's planner needs: the earlier run, the changed labels and
  which of the new run's pairs to re-label or carry over.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories as mapping_repo
from app.db import repositories_registry as repo
from app.db.models import MappingVersion
from app.db.models_registry import Job
from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from app.domain.pairing import Pair
from app.domain.staleness import (
    LabelChange,
    UpdatePlan,
    affected_images,
    changed_labels,
    plan_update,
    record_presence,
)
from app.schemas.jobs import PseudoLabelParams
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services.job_inputs import raise_problems

# Options an update must share with the run it updates (the labels depend on them).
SAME_OPTIONS = (
    "split",
    "max_images",
    "use_priors",
    "threshold",
    "write_confidence",
    "write_teacher",
    "tta",
    "scales",
    "tta_windows",
    "tta_memory_budget_mb",
)
# What an update run takes over from the run it updates: the teacher, the dataset and SAME_OPTIONS.
UPDATE_KEEPS = ("model_id", "dataset_id", *SAME_OPTIONS)


@dataclass(frozen=True, slots=True)
class StaleReport:
    """How much a newer mapping version touches a pseudo-label run.

    ``new_*`` are None when the mapping has no newer approved version; ``affected_images`` counts
    the run's labelled images that contain a changed label, of ``total_images`` in its manifest.
    """

    job_id: int
    mapping_id: int
    pinned_version_id: int
    pinned_number: int
    newest_approved_number: int | None
    new_version_id: int | None
    new_number: int | None
    changes: tuple[LabelChange, ...]
    affected_images: int
    total_images: int

    @property
    def stale(self) -> bool:
        return self.affected_images > 0

    @property
    def changed_labels(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.changes)

    @property
    def message(self) -> str:
        if self.new_number is None:
            return f"not stale: no approved version newer than v{self.pinned_number}"
        names = ", ".join(self.changed_labels)
        if not self.stale:
            why = f"no image contains {names}" if names else "no label's allowed set changed"
            return f"not stale against v{self.new_number}: {why}"
        return (
            f"stale: {self.affected_images:,} of {self.total_images:,} images contain labels whose "
            f"allowed set changed ({names})"
        )


@dataclass(frozen=True, slots=True)
class UpdateWork:
    """An update run's plan: the earlier run, the label changes, what to re-label or carry over."""

    old_job_id: int
    old_output_dir: Path
    changes: tuple[LabelChange, ...]
    plan: UpdatePlan
    records: dict[str, dict[str, Any]]


def _run(session: Session, job_id: int, *, field: str) -> Job:
    """A succeeded, unsharded-parent pseudo-label run with priors and a manifest."""
    job = repo.get_job(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist", field=field)
    if job.parent_id is not None:
        raise InvalidInput(f"job {job_id} is a shard of job {job.parent_id}; give the run's id", field=field)
    if job.kind != "pseudo_label":
        raise InvalidInput(f"job {job_id} is a {job.kind} job, not a pseudo_label run", field=field)
    if job.status != "succeeded":
        raise Conflict(f"job {job_id} is {job.status}; only a succeeded run can be compared", field=field)
    if not json.loads(job.params_json or "{}").get("use_priors", True):
        raise InvalidInput(
            f"job {job_id} ran without priors: its labels do not depend on a mapping", field=field
        )
    if job.mapping_version_id is None or not job.output_dir:
        raise Conflict(f"job {job_id}'s mapping version or outputs were deleted", field=field)
    if not (Path(job.output_dir) / "manifest.jsonl").is_file():
        raise Conflict(f"the outputs of job {job_id} are gone (no manifest.jsonl)", field=field)
    return job


def read_records(output_dir: Path) -> dict[str, dict[str, Any]]:
    """A run's manifest records by image path (``manifest.jsonl``, one per image)."""
    text = (output_dir / "manifest.jsonl").read_text(encoding="utf-8")
    records = (json.loads(line) for line in text.splitlines() if line.strip())
    return {str(r["image"]): r for r in records}


def newest_approved(session: Session, mapping_id: int) -> MappingVersion | None:
    versions, _ = mapping_repo.page_versions(session, mapping_id, limit=1, offset=0, status="approved")
    return versions[0] if versions else None


def _changes(session: Session, job: Job, old: MappingVersion, new: MappingVersion) -> tuple[LabelChange, ...]:
    mapping = mapping_service.get_mapping(session, old.mapping_id)
    source = taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id, generated=False)
    dataset = dataset_service.get_dataset(session, int(job.dataset_id or 0))
    return changed_labels(
        mapping_service.version_edges(old),
        mapping_service.version_edges(new),
        source,
        any_class_values=dataset_service.any_class_values(dataset),
    )


def staleness(session: Session, job_id: int, new_version_id: int | None = None) -> StaleReport:
    """How stale pseudo-label run ``job_id`` is against ``new_version_id`` (any version of the same
    mapping; default: the newest approved version, when it is newer than the pinned one)."""
    job = _run(session, job_id, field="job_id")
    pinned = mapping_service.get_version(session, int(job.mapping_version_id or 0))
    newest = newest_approved(session, pinned.mapping_id)
    if new_version_id is not None:
        new: MappingVersion | None = _version(session, new_version_id, pinned, field="version_id")
    else:
        new = newest if newest is not None and newest.number > pinned.number else None
    records = read_records(Path(str(job.output_dir)))
    changes = _changes(session, job, pinned, new) if new is not None else ()
    presence = {image: record_presence(r) for image, r in records.items()}
    known = {image: values for image, values in presence.items() if values is not None}
    affected = affected_images(known, {c.value for c in changes}) if changes else ()
    return StaleReport(
        job_id=job.id,
        mapping_id=pinned.mapping_id,
        pinned_version_id=pinned.id,
        pinned_number=pinned.number,
        newest_approved_number=newest.number if newest is not None else None,
        new_version_id=new.id if new is not None else None,
        new_number=new.number if new is not None else None,
        changes=changes,
        affected_images=len(affected),
        total_images=len(records),
    )


def _version(session: Session, version_id: int, pinned: MappingVersion, *, field: str) -> MappingVersion:
    try:
        version = mapping_service.get_version(session, version_id)
    except NotFound as exc:
        raise NotFound(exc.message, field=field) from exc
    if version.mapping_id != pinned.mapping_id:
        raise InvalidInput(
            f"mapping version {version_id} belongs to another mapping than the run's "
            f"(mapping {pinned.mapping_id}, v{pinned.number})",
            field=field,
        )
    return version


def _option(params: dict[str, Any], name: str) -> Any:
    return params.get(name, PseudoLabelParams.model_fields[name].default)


def update_params(session: Session, job_id: int, new_version_id: int) -> dict[str, Any]:
    """The params of an update of pseudo-label run ``job_id`` to mapping version ``new_version_id``.

    The run's :data:`UPDATE_KEEPS` (teacher and dataset from its row, the options as it stored them;
    an option it lacks keeps the default) plus the new version, like ``unilabel job submit
    --update-from``; everything else (name, queue, shard size, output name) takes the defaults.
    Raises when ``job_id`` is not a succeeded pseudo-label run with priors and outputs; the version
    is checked on submission (:func:`check_update`).
    """
    old = _run(session, job_id, field="update_from_job_id")
    earlier = json.loads(old.params_json or "{}")
    kept = {name: earlier[name] for name in UPDATE_KEEPS if name in earlier}
    return kept | {
        "kind": "pseudo_label",
        "model_id": old.model_id,
        "dataset_id": old.dataset_id,
        "mapping_version_id": new_version_id,
        "update_from_job_id": old.id,
    }


def check_update(session: Session, params: PseudoLabelParams) -> Job:
    """The earlier run an update starts from; raises (all problems at once) on any mismatch."""
    assert params.update_from_job_id is not None
    old = _run(session, params.update_from_job_id, field="update_from_job_id")
    problems: list[DomainError] = []
    for name, ours, theirs in (
        ("model_id", params.model_id, old.model_id),
        ("dataset_id", params.dataset_id, old.dataset_id),
    ):
        if ours != theirs:
            problems.append(_differs(name, ours, theirs, old.id))
    old_params = json.loads(old.params_json or "{}")
    new_params = params.model_dump()
    for name in SAME_OPTIONS:
        if _option(old_params, name) != new_params[name]:
            problems.append(_differs(name, new_params[name], _option(old_params, name), old.id))
    pinned = mapping_service.get_version(session, int(old.mapping_version_id or 0))
    try:
        new = _version(session, params.mapping_version_id, pinned, field="mapping_version_id")
    except DomainError as exc:
        problems.append(exc)
    else:
        if new.number <= pinned.number:
            problems.append(
                InvalidInput(
                    f"an update needs a version newer than job {old.id}'s v{pinned.number} "
                    f"of the same mapping; v{new.number} is not",
                    field="mapping_version_id",
                )
            )
    raise_problems(problems)
    return old


def _differs(name: str, ours: Any, theirs: Any, old_id: int) -> InvalidInput:
    return InvalidInput(
        f"{name} {ours!r} differs from job {old_id}'s {theirs!r}: an update keeps the run's "
        "teacher, dataset, split and options (submit a full run to change them)",
        field=name,
    )


def update_work(session: Session, job: Job, pairs: Sequence[Pair]) -> UpdateWork:
    """The plan of update run ``job`` over its ``pairs`` (called by the worker's planner)."""
    params = json.loads(job.params_json)
    old = _run(session, int(params["update_from_job_id"]), field="update_from_job_id")
    pinned = mapping_service.get_version(session, int(old.mapping_version_id or 0))
    new = mapping_service.get_version(session, int(job.mapping_version_id or 0))
    changes = _changes(session, job, pinned, new)
    records = read_records(Path(str(old.output_dir)))
    plan = plan_update(pairs, records, {c.value for c in changes})
    return UpdateWork(old.id, Path(str(old.output_dir)), changes, plan, records)
