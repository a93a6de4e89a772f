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
    caveats: list[str] = Field(
        default_factory=list,
        description="Classes of this finding the surveying teacher is weak on (IoU under 0.35 in its "
        "evaluation) or that evaluation's ground truth lacks: the finding may be the teacher's blind spot",
    )


class TeacherQualityRead(BaseModel):
    model_id: int
    model_name: str
    evaluation_job_id: int | None = Field(
        description="Of its recent evaluations in the target's classes, the one whose ground truth holds "
        "the most target classes (the newest among equals)"
    )
    dataset_name: str | None
    miou: float | None
    weak: bool = Field(description="mIoU under 0.5: findings may be the teacher's blind spots")
    class_iou: dict[str, float | None] = Field(
        default_factory=dict, description="IoU per target class name (null: not in the evaluated data)"
    )
    summary: str = Field(description="The above in one sentence, as the editor shows it")


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
    teacher: TeacherQualityRead = Field(description="The surveying teacher and how far it can be trusted")
    checked_labels: list[str] = Field(description="Labels with enough surveyed pixels for a verdict")
    unseen_labels: list[str] = Field(description="Labels with too few surveyed pixels: no verdict")
    findings: list[AuditFindingRead]
