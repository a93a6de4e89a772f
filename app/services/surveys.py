"""Data surveys as mapping evidence (services layer): submission checks, results, suggestions, audit.

API (session first; reads only):
    check_survey(session, params) -> job columns   (refuses a missing dataset/model, an unusable model,
                                                      a model whose taxonomy is not a class list)
    load_survey(session, survey_job_id) -> SurveyResult   (a succeeded ``survey`` job's statistics)
    survey_for_mapping(session, mapping_id, survey_job_id) -> SurveyResult   (and checks it fits:
        the survey's dataset taxonomy is the mapping's source, its model's the mapping's target)
    data_extra(result, names, *, min_share=DATA_MIN_SHARE) -> evidence per label and target for
        ``app.services.suggestions`` (targets under ``min_share`` of a label's pixels give none)
    audit(session, mapping_id, *, survey_job_id, version=None, thresholds=AuditThresholds())
        -> MappingAudit   (the current version, or version number ``version``)

The statistics are the ``survey.json`` the worker writes in the job's output folder
(``worker/survey_job.py``); its ``provenance`` names the teacher, dataset, sample and code version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_registry as job_repo
from app.db.models_registry import Job
from app.domain.audit import AuditReport, AuditThresholds, audit_mapping
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.suggestions import Evidence
from app.domain.survey import DATA_MIN_SHARE, SurveyStats, data_evidence
from app.domain.teacher_trust import TeacherQuality, class_note
from app.schemas.jobs import SurveyParams
from app.services import datasets as dataset_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services._mapping_core import current_version, get_mapping, version_edges
from app.services.mappings import get_version_by_number

SURVEY_FILE = "survey.json"
FIELD = "survey_job_id"


def check_survey(session: Session, params: SurveyParams) -> dict[str, Any]:
    """The new job's columns, or a refusal naming the field."""
    dataset = dataset_service.get_dataset(session, params.dataset_id)
    model = model_service.get_model(session, params.model_id)
    model_service.usable_spec(session, model)
    target = taxonomy_service.load_taxonomy(session, model.taxonomy_id)
    if not target.is_class_list():
        raise InvalidInput(
            f"model {model.name!r}: its taxonomy {target.name!r} must have class ids 0..N-1", field="model_id"
        )
    return {"dataset_id": dataset.id, "model_id": model.id}


@dataclass(frozen=True, slots=True)
class SurveyResult:
    job_id: int
    dataset_id: int
    model_id: int
    source_taxonomy_id: int
    target_taxonomy_id: int
    stats: SurveyStats
    provenance: dict[str, Any]


def load_survey(session: Session, survey_job_id: int) -> SurveyResult:
    job: Job | None = job_repo.get_job(session, survey_job_id)
    if job is None or job.parent_id is not None:
        raise NotFound(f"job {survey_job_id} does not exist", field=FIELD)
    if job.kind != "survey":
        raise InvalidInput(f"job {survey_job_id} is a {job.kind} job, not a survey", field=FIELD)
    if job.status != "succeeded":
        raise Conflict(
            f"survey job {survey_job_id} is {job.status}; only a succeeded one is evidence", field=FIELD
        )
    path = Path(str(job.output_dir or "")) / SURVEY_FILE
    if not job.output_dir or not path.is_file():
        raise NotFound(f"survey job {survey_job_id} has no {SURVEY_FILE}", field=FIELD)
    data = json.loads(path.read_text(encoding="utf-8"))
    prov = dict(data.get("provenance", {}))
    dataset = dataset_service.get_dataset(session, int(job.dataset_id or 0))
    model = model_service.get_model(session, int(job.model_id or 0))
    return SurveyResult(
        job.id,
        dataset.id,
        model.id,
        dataset.taxonomy_id,
        model.taxonomy_id,
        SurveyStats.from_json(data["survey"]),
        prov,
    )


def survey_for_mapping(session: Session, mapping_id: int, survey_job_id: int) -> SurveyResult:
    mapping = get_mapping(session, mapping_id)
    result = load_survey(session, survey_job_id)
    if result.source_taxonomy_id != mapping.source_taxonomy_id:
        raise InvalidInput(
            f"survey {survey_job_id} surveyed a dataset of taxonomy {result.source_taxonomy_id}; "
            f"mapping {mapping_id} maps taxonomy {mapping.source_taxonomy_id}",
            field=FIELD,
        )
    if result.target_taxonomy_id != mapping.target_taxonomy_id:
        raise InvalidInput(
            f"survey {survey_job_id}'s teacher predicts taxonomy {result.target_taxonomy_id}; "
            f"mapping {mapping_id} maps to taxonomy {mapping.target_taxonomy_id}",
            field=FIELD,
        )
    return result


def data_extra(
    result: SurveyResult,
    names: tuple[str, ...],
    *,
    min_share: float = DATA_MIN_SHARE,
    teacher: TeacherQuality | None = None,
) -> dict[str, dict[int, list[Evidence]]]:
    """Data evidence per source label and target (labels the survey did not see give none).

    ``min_share``: the floor (0..1) a target's share of a label's pixels must reach to be evidence;
    lower it for thin classes (road markings get 1-2 % of road pixels). ``teacher``: the surveying
    teacher's evaluation (``app.services.teacher_quality``); evidence for a class it is weak on, or
    was never evaluated on, says so in its message (its strength is unchanged).
    """
    ref = f"survey job {result.job_id} ({result.stats.images} images)"
    out: dict[str, dict[int, list[Evidence]]] = {}
    for name in names:
        found = data_evidence(result.stats, name, min_share=min_share)
        if found:
            out[name] = {
                t: [Evidence(e.kind, _with_note(e.message, teacher, t, result), e.strength, e.facts, (ref,))]
                for t, e in found.items()
            }
    return out


def _with_note(message: str, teacher: TeacherQuality | None, target: int, result: SurveyResult) -> str:
    names = result.stats.class_names
    note = class_note(teacher, target, names[target]) if teacher and 0 <= target < len(names) else None
    return f"{message}; {note}" if note else message


@dataclass(frozen=True, slots=True)
class MappingAudit:
    mapping_id: int
    version_number: int
    survey: SurveyResult
    thresholds: AuditThresholds
    report: AuditReport
    target_names: dict[int, str]


def audit(
    session: Session,
    mapping_id: int,
    *,
    survey_job_id: int,
    version: int | None = None,
    thresholds: AuditThresholds = AuditThresholds(),
) -> MappingAudit:
    """Audit a mapping version (default: the current one) against a survey's statistics."""
    try:
        thresholds.check()
    except ValueError as exc:
        raise InvalidInput(str(exc), field="thresholds") from exc
    mapping = get_mapping(session, mapping_id)
    row = (
        current_version(session, mapping_id)
        if version is None
        else get_version_by_number(session, mapping_id, version)
    )
    result = survey_for_mapping(session, mapping_id, survey_job_id)
    source = taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id)
    target = taxonomy_service.load_taxonomy(session, mapping.target_taxonomy_id)
    report = audit_mapping(version_edges(row), tuple(source.names), result.stats, thresholds)
    return MappingAudit(mapping_id, row.number, result, thresholds, report, dict(target.class_list()))
