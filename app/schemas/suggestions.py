"""Mapping suggestion schemas (schemas layer): suggested edges with their evidence, per source label."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class EvidenceRead(BaseModel):
    kind: str = Field(description="name | mapping | data (more kinds may be added)")
    message: str = Field(description="The evidence in words and numbers")
    strength: float = Field(description="0..1: how strongly this evidence alone supports the edge")
    facts: dict[str, float] = Field(description="The numbers behind the message")
    refs: list[str] = Field(description="Where it comes from, e.g. '<mapping> v<n>: `label` (same name)'")


class SuggestionRead(BaseModel):
    key: str = Field(description="'<target id>:<source label name>', stable for this edge")
    target_id: int = Field(description="Target class id (255 = void)")
    target_name: str
    score: float = Field(description="0..1, the evidence combined (noisy-or)")
    in_current: bool = Field(description="The edge is already in the mapping's current version")
    rejected: bool = Field(
        default=False, description="Rejected for this mapping (listed with include_rejected)"
    )
    evidence: list[EvidenceRead]


class LabelSuggestions(BaseModel):
    source_name: str
    current_targets: list[int] = Field(description="Targets in the current version ([255] = void)")
    suggestions: list[SuggestionRead] = Field(description="Best first")


class EvidenceMappingRead(BaseModel):
    mapping_id: int
    name: str
    version: int = Field(description="The newest approved version number, used as evidence")
    source_taxonomy_id: int
    source_taxonomy_name: str


class SuggestionList(BaseModel):
    mapping_id: int
    version: int = Field(description="The current version the suggestions are compared with")
    source_taxonomy_id: int
    target_taxonomy_id: int
    evidence_mappings: list[EvidenceMappingRead]
    labels: list[LabelSuggestions]


class SuggestionRejectionRead(BaseModel):
    mapping_id: int
    key: str
    source_name: str
    target_id: int
    author: str | None
    created_at: datetime
