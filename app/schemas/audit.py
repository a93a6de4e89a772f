"""Mapping audit schemas (schemas layer): findings of a mapping version against a data survey."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditFindingRead(BaseModel):
    kind: str = Field(description="contradicted | unused | void_confident")
    source_name: str
    target_id: int = Field(description="The class the finding is about (255 = void)")
    target_name: str
    current_targets: list[int] = Field(description="The label's targets in the audited version")
    proposed_targets: list[int] = Field(description="The targets the data suggests instead")
    add: list[int] = Field(description="Proposed edges to add")
    remove: list[int] = Field(description="Proposed edges to remove")
    message: str = Field(description="The finding and its evidence in words and numbers")
    facts: dict[str, float]


class AuditThresholdsRead(BaseModel):
    min_pixels: int
    contradicted_max: float
    dominant_min: float
    propose_min: float
    unused_max: float
    void_confident_min: float
    unused_contrast: float


class MappingAuditRead(BaseModel):
    mapping_id: int
    version: int = Field(description="The audited version number")
    survey_job_id: int
    survey_images: int
    survey_provenance: dict[str, Any] = Field(description="Teacher, dataset, sample, code version")
    thresholds: AuditThresholdsRead
    checked_labels: list[str] = Field(description="Labels with enough surveyed pixels for a verdict")
    unseen_labels: list[str] = Field(description="Labels with too few surveyed pixels: no verdict")
    findings: list[AuditFindingRead]
