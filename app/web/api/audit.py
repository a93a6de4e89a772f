"""Mapping audit endpoint (web layer): a mapping version checked against a data survey."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from app.domain.mapping import VOID
from app.domain.teacher_trust import caveats
from app.schemas.audit import AuditFindingRead, AuditThresholdsRead, MappingAuditRead, TeacherQualityRead
from app.services import surveys as service
from app.services.teacher_quality import survey_teacher
from app.web.audit_query import Thresholds
from app.web.auth import ReadUser
from app.web.deps import IdPath, SessionDep

router = APIRouter(prefix="/mappings", tags=["suggestions"])


@router.get("/{mapping_id}/audit", response_model=MappingAuditRead)
def read_audit(
    mapping_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    survey_job_id: Annotated[
        int, Query(ge=1, description="A succeeded survey job of this mapping's taxonomies")
    ],
    thresholds: Thresholds,
    version: Annotated[
        int | None, Query(ge=1, description="Version number (default: the current one)")
    ] = None,
) -> MappingAuditRead:
    """Edges the data contradicts, unused edges, void-only labels the teacher predicts confidently."""
    result = service.audit(
        session, mapping_id, survey_job_id=survey_job_id, version=version, thresholds=thresholds
    )
    names = result.target_names | {VOID: "void"}
    teacher = survey_teacher(session, result.survey, result.target_names)
    return MappingAuditRead(
        mapping_id=mapping_id,
        version=result.version_number,
        survey_job_id=survey_job_id,
        survey_images=result.survey.stats.images,
        survey_provenance=result.survey.provenance,
        thresholds=AuditThresholdsRead(**asdict(thresholds)),
        teacher=TeacherQualityRead(**teacher.read(result.target_names)),
        checked_labels=list(result.report.checked),
        unseen_labels=list(result.report.unseen),
        findings=[
            AuditFindingRead(
                kind=str(f.kind),
                source_name=f.source_name,
                target_id=f.target,
                target_name=names.get(f.target, str(f.target)),
                current_targets=list(f.current),
                proposed_targets=list(f.proposed),
                add=list(f.add),
                remove=list(f.remove),
                message=f.message,
                facts=dict(f.facts),
                caveats=list(caveats(teacher.quality, f, names)),
            )
            for f in result.report.findings
        ],
    )
