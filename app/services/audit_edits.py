"""The mapping audit in the browser (services layer): which surveys fit a mapping, and a proposed
change of the audit taken as an ordinary edit.

API (session first; flush, never commit; a stale base raises StaleVersion):
    compatible_surveys(session, mapping_id) -> list[SurveyChoice]   succeeded survey jobs of a
        dataset in the mapping's source taxonomy by a teacher of its target taxonomy, newest first
    finding_key(finding) -> str   ``<kind>:<target id>:<source name>``, stable across page loads
    apply_finding(session, mapping_id, *, survey_job_id, key, base_version_id, author=None,
                  thresholds=AuditThresholds())
        -> VersionRow   the audit (with ``thresholds``) is re-run on the base version; the finding
        with ``key`` sets its label's targets to the proposed ones, in one version ("audit: …")

A finding the base version no longer has (someone fixed it meanwhile) is refused with Conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from app.db import repositories_registry as job_repo
from app.db.models import MappingVersion as VersionRow
from app.db.models import User
from app.domain.audit import AuditThresholds, Finding
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.mapping import VOID
from app.services import surveys as survey_service
from app.services._mapping_core import get_mapping, get_version, version_edges
from app.services.mapping_edits import replace_edges

MAX_LISTED = 200
KIND_WORDS = {
    "contradicted": "contradicted by the data",
    "unused": "unused edge",
    "void_confident": "void, but predicted confidently",
}


@dataclass(frozen=True, slots=True)
class SurveyChoice:
    job_id: int
    name: str
    dataset_id: int
    model_id: int
    finished_at: datetime | None


def compatible_surveys(session: Session, mapping_id: int) -> list[SurveyChoice]:
    """Succeeded surveys whose dataset is in the source taxonomy and whose teacher predicts the target."""
    mapping = get_mapping(session, mapping_id)
    jobs, _ = job_repo.page_jobs(session, limit=MAX_LISTED, offset=0, status="succeeded", kind="survey")
    out: list[SurveyChoice] = []
    for job in jobs:
        dataset = job_repo.get_dataset(session, job.dataset_id) if job.dataset_id else None
        model = job_repo.get_model(session, job.model_id) if job.model_id else None
        if dataset is None or model is None:
            continue
        if (dataset.taxonomy_id, model.taxonomy_id) != (
            mapping.source_taxonomy_id,
            mapping.target_taxonomy_id,
        ):
            continue
        name = job.name or f"{model.name} on {dataset.name}"
        out.append(SurveyChoice(job.id, name, dataset.id, model.id, job.finished_at))
    return out


def finding_key(finding: Finding) -> str:
    return f"{finding.kind}:{finding.target}:{finding.source_name}"


def _parse_key(key: str) -> tuple[str, int, str]:
    kind, _, rest = key.partition(":")
    target, _, source = rest.partition(":")
    try:
        value = int(target)
    except ValueError:
        value = None
    if kind not in KIND_WORDS or value is None or not source:
        raise InvalidInput(f"not an audit finding: {key!r}", field="finding")
    return kind, value, source


def apply_finding(
    session: Session,
    mapping_id: int,
    *,
    survey_job_id: int,
    key: str,
    base_version_id: int,
    author: User | None = None,
    thresholds: AuditThresholds = AuditThresholds(),
) -> VersionRow:
    """Set the finding's label to its proposed targets on top of ``base_version_id`` (one version);
    the finding must be one of the audit with ``thresholds`` (those the user saw it with)."""
    _parse_key(key)
    base = get_version(session, base_version_id)
    if base.mapping_id != mapping_id:
        raise NotFound(
            f"version {base_version_id} is not a version of mapping {mapping_id}", field="base_version"
        )
    result = survey_service.audit(
        session, mapping_id, survey_job_id=survey_job_id, version=base.number, thresholds=thresholds
    )
    found = next((f for f in result.report.findings if finding_key(f) == key), None)
    if found is None:
        raise Conflict(
            f"version {base.number} has no such audit finding any more; the audit was refreshed",
            field="finding",
        )
    names = result.target_names | {VOID: "void"}
    kept = [(s, t) for s, t in version_edges(base).edges if s != found.source_name]
    new = kept + [(found.source_name, t) for t in found.proposed]
    proposed = " + ".join(names.get(t, str(t)) for t in found.proposed)
    why = f"{KIND_WORDS[str(found.kind)]}, survey job {survey_job_id}"
    message = f"audit: {found.source_name!r} → {proposed} ({why})"
    return replace_edges(
        session,
        mapping_id=mapping_id,
        edges=sorted(new),
        base_version_id=base_version_id,
        author=author,
        message=message,
    )
