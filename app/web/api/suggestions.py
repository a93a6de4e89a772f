"""Mapping suggestion endpoints (web layer): suggested edges with their evidence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.domain.mapping import VOID
from app.schemas.common import LabelName
from app.schemas.suggestions import (
    EvidenceMappingRead,
    EvidenceRead,
    LabelSuggestions,
    SuggestionList,
    SuggestionRead,
)
from app.services import suggestions as service
from app.web.auth import ReadUser
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
) -> SuggestionList:
    """Suggested edges per source label, from label names and other approved mappings to the same target."""
    report = service.suggest_for_mapping(session, mapping_id, limit=limit, min_score=min_score, label=label)
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
