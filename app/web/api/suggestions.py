"""Mapping suggestion endpoints (web layer): suggested edges with their evidence; rejections.

A suggestion's ``key`` is ``<target id>:<source label name>``; in a URL the name is percent-encoded
(``/`` as ``%2F`` is fine: the key is the rest of the path before ``/reject``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from app.db.models import SuggestionRejection
from app.domain.mapping import VOID
from app.domain.survey import DATA_MIN_SHARE
from app.schemas.common import LabelName
from app.schemas.suggestions import (
    EvidenceMappingRead,
    EvidenceRead,
    LabelSuggestions,
    SuggestionList,
    SuggestionRead,
    SuggestionRejectionRead,
)
from app.services import suggestions as service
from app.services import users as user_service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, SessionDep

router = APIRouter(prefix="/mappings", tags=["suggestions"])


@router.get("/{mapping_id}/suggestions", response_model=SuggestionList)
def read_suggestions(
    mapping_id: IdPath,
    session: SessionDep,
    _user: ReadUser,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT, description="Suggestions per source label")] = 3,
    min_score: Annotated[float, Query(ge=0.0, le=1.0, description="Leave out weaker suggestions")] = 0.0,
    label: Annotated[LabelName | None, Query(description="Only this source label")] = None,
    include_rejected: Annotated[bool, Query(description="Also list rejected suggestions (flagged)")] = False,
    survey_job_id: Annotated[
        int | None, Query(ge=1, description="A succeeded survey job: adds data evidence (kind 'data')")
    ] = None,
    data_min_share: Annotated[
        float,
        Query(
            ge=0.0,
            le=1.0,
            description=(
                "Only with survey_job_id: a target is data evidence when it gets at least this share of "
                "the label's surveyed pixels (lower it for thin classes such as road markings)"
            ),
        ),
    ] = DATA_MIN_SHARE,
) -> SuggestionList:
    """Suggested edges per source label, from label names and other approved mappings to the same target."""
    report = service.suggest_for_mapping(
        session,
        mapping_id,
        limit=limit,
        min_score=min_score,
        label=label,
        include_rejected=include_rejected,
        survey_job_id=survey_job_id,
        data_min_share=data_min_share,
    )
    current = report.current
    assert current is not None and report.version_number is not None
    labels = []
    for name, ranked in report.labels.items():
        targets = list(current.targets_of(name)) or [VOID]
        items = [
            SuggestionRead(
                key=s.key,
                target_id=s.target,
                target_name=s.target_name,
                score=s.score,
                in_current=s.target in targets,
                rejected=(name, s.target) in report.rejected,
                evidence=[
                    EvidenceRead(
                        kind=str(e.kind),
                        message=e.message,
                        strength=e.strength,
                        facts=dict(e.facts),
                        refs=list(e.refs),
                    )
                    for e in s.evidence
                ],
            )
            for s in ranked
        ]
        labels.append(LabelSuggestions(source_name=name, current_targets=targets, suggestions=items))
    return SuggestionList(
        mapping_id=mapping_id,
        version=report.version_number,
        source_taxonomy_id=report.source_taxonomy_id,
        target_taxonomy_id=report.target_taxonomy_id,
        evidence_mappings=[
            EvidenceMappingRead(
                mapping_id=e.mapping_id,
                name=e.mapping_name,
                version=e.version_number,
                source_taxonomy_id=e.source_taxonomy_id,
                source_taxonomy_name=e.source_taxonomy_name,
            )
            for e in report.evidence
        ],
        labels=labels,
    )


def _rejection_read(session: Session, row: SuggestionRejection) -> SuggestionRejectionRead:
    names = user_service.user_names(session, [row.author_id])
    return SuggestionRejectionRead(
        mapping_id=row.mapping_id,
        key=f"{row.target_id}:{row.source_name}",
        source_name=row.source_name,
        target_id=row.target_id,
        author=names.get(row.author_id) if row.author_id is not None else None,
        created_at=row.created_at,
    )


@router.post("/{mapping_id}/suggestions/{key:path}/reject", response_model=SuggestionRejectionRead)
def reject_suggestion(mapping_id: IdPath, key: str, session: SessionDep, user: EditorUser) -> JSONResponse:
    """Reject a suggested edge for this mapping: it is not suggested here again (201; 200 if it was)."""
    row, created = service.reject_suggestion(session, mapping_id, key=key, author=user)
    body = _rejection_read(session, row).model_dump(mode="json")
    return JSONResponse(body, status_code=201 if created else 200)


@router.delete("/{mapping_id}/suggestions/{key:path}/reject", status_code=204)
def unreject_suggestion(mapping_id: IdPath, key: str, session: SessionDep, _user: EditorUser) -> Response:
    """Undo a rejection: the edge may be suggested again."""
    service.unreject_suggestion(session, mapping_id, key=key)
    return Response(status_code=204)
