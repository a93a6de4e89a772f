"""Evaluation edge schemas (schemas layer): one evaluate job's results, lists, and comparisons.

Read-only shapes built by :mod:`app.services.evaluations` from the job's stored result; the pages
render the same dicts, the API answers them as JSON and the CSV endpoints as tables.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ClassIoU(BaseModel):
    id: int
    name: str
    color: str | None = Field(default=None, description="The class colour in the model's taxonomy")
    iou: float | None = Field(description="None when the class is absent from truth and prediction")
    accuracy: float | None = Field(description="Share of the class's true pixels predicted as it")
    gt_pixels: int
    pred_pixels: int


class SplitMetrics(BaseModel):
    """The headline numbers of one split of the evaluated images."""

    split: str
    images: int
    pixels: int
    miou: float | None
    miou_all: float | None
    pixel_accuracy: float | None


class EvaluationSummary(BaseModel):
    """What identifies an evaluation (model, dataset, split, mapping) and its headline numbers."""

    job_id: int
    name: str
    status: str
    model_id: int | None
    model_name: str
    dataset_id: int | None
    dataset_name: str
    split: str | None
    mapping_id: int | None
    mapping_name: str | None
    mapping_version_id: int | None
    mapping_version: int | None
    mapping_hash: str | None
    miou: float | None
    miou_all: float | None
    pixel_accuracy: float | None
    pixels: int
    images_evaluated: int
    images_failed: int
    finished_at: datetime | None


class EvaluationRead(EvaluationSummary):
    """Everything one evaluate job measured; ``confusion``: rows = truth, columns = prediction + void."""

    seconds: float | None
    class_names: list[str]
    per_class: list[ClassIoU]
    confusion: list[list[int]]
    per_split: list[SplitMetrics] = Field(default_factory=list, description="By split of the images")
    versions: dict[str, str] = Field(default_factory=dict, description="unilabel, torch, transformers")
    device: str | None = None
    tta_views: list[str] = Field(default_factory=list)
    model_checksum: str | None = None


class ComparedClassRead(BaseModel):
    id: int
    name: str
    color: str | None = None
    ious: list[float | None] = Field(description="One IoU per evaluation, in the order given")
    deltas: list[float | None] = Field(description="IoU minus the first evaluation's (first: None)")
    best: int | None = Field(description="Index of the evaluation with the highest IoU, if they differ")


class EvaluationComparison(BaseModel):
    """Two or more evaluations on the same dataset, split and mapping, class by class."""

    dataset_id: int | None
    dataset_name: str
    split: str | None
    mapping_hash: str | None
    evaluations: list[EvaluationSummary]
    classes: list[ComparedClassRead]
