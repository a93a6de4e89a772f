"""Job edge schemas (schemas layer): submission params per kind, read models, logs.

The worker builds its ML config objects from these params (``worker/tasks.py``), so they are the
contract between the web process and the workers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, FiniteFloat, model_validator

from app.domain.text import INT32_MAX
from app.schemas.common import (
    Id,
    Name,
    ORMModel,
    Page,
    ShortName,
    ShortText,
    Text,
    no_control_chars,
)
from app.schemas.training import TrainRecipe, TrainSetRef, ValSetRef

JobTitle = Annotated[str, Field(max_length=200), AfterValidator(no_control_chars)]
Scale = Annotated[FiniteFloat, Field(gt=0, le=8)]
QueueName = Literal["default", "gpu", "cpu"]
OUTPUT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
OUTPUT_NAME_RULE = "1 to 100 letters, digits, dots, underscores or hyphens, starting with a letter or a digit"


def _output_name(value: str) -> str:
    """The rule in words (a regular expression in an error message helps nobody)."""
    if not re.fullmatch(OUTPUT_NAME_PATTERN, value):
        raise ValueError(f"{value!r} cannot be an output name: use {OUTPUT_NAME_RULE}")
    return value


# The pattern stays in the JSON schema for clients; the error message says it in words.
OutputName = Annotated[
    str, AfterValidator(_output_name), Field(json_schema_extra={"pattern": OUTPUT_NAME_PATTERN})
]


class _Common(BaseModel):
    name: JobTitle = Field(default="", description="Free-text title of the job")
    queue: QueueName = Field(default="default", description="Workers listening on this queue take the job")
    device: ShortText = Field(default="auto", description="auto | cpu | cuda | cuda:N")


class _Inference(BaseModel):
    tta: bool = Field(default=True, description="Flip + multi-scale test-time augmentation")
    scales: list[Scale] | None = Field(default=None, description="TTA scales (default: the paper's)")
    tta_windows: bool = Field(
        default=False,
        description="Run up-scaled TTA views as sliding windows of the image's size (less memory; "
        "differs from the paper's TTA). Default: whole views, each falling back to windows only when "
        "it runs out of memory or exceeds tta_memory_budget_mb (recorded per image)",
    )
    tta_memory_budget_mb: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description="An up-scaled whole view whose estimated memory exceeds this runs as windows",
    )
    tta_whole: bool | None = Field(
        default=None,
        deprecated=True,
        exclude=True,
        description="Deprecated, ignored: up-scaled views run whole by default (both true and false "
        "now mean whole; false was the old default, windows). Use tta_windows for windows",
    )
    batch_size: int = Field(
        default=8,
        ge=1,
        le=64,
        description="At most this many images of equal size per forward pass, and at most 512 x 512 "
        "pixels' worth (larger images run one by one); the labels do not depend on it",
    )

    @model_validator(mode="before")
    @classmethod
    def _whole_or_windows(cls, data: Any) -> Any:
        # Before validation: reading the deprecated attribute afterwards would warn.
        if isinstance(data, dict) and data.get("tta_whole") is True and data.get("tta_windows") is True:
            raise ValueError("tta_windows: contradicts the deprecated tta_whole=true; send tta_windows only")
        return data


class PseudoLabelParams(_Common, _Inference):
    """Pseudo-label ``dataset_id`` with ``model_id`` constrained by mapping version ``mapping_version_id``."""

    kind: Literal["pseudo_label"] = "pseudo_label"
    model_id: Id
    dataset_id: Id
    mapping_version_id: Id
    split: ShortName | None = Field(default=None, description="Only this split (pattern datasets)")
    output_name: OutputName | None = Field(
        default=None, description="Folder under <data_dir>/outputs (default: job-<id>)"
    )
    use_priors: bool = True
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="Confidence below -> void")
    write_confidence: bool = False
    write_teacher: bool = Field(
        default=True, description="Also write the unconstrained teacher argmax (for the review gallery)"
    )
    shard_size: int = Field(default=50, ge=1, le=100_000, description="Images per shard")
    allow_unapproved: bool = Field(default=False, description="Use a version that is not approved")
    override_reason: Text | None = Field(
        default=None, description="Required with allow_unapproved (recorded)"
    )
    max_images: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Only the first N pairs (trial runs)"
    )
    update_from_job_id: Id | None = Field(
        default=None,
        description="Update this succeeded run to a newer version of its mapping: re-label only the "
        "images containing a source label whose allowed set changed, carry the rest over (hard links)",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "kind": "pseudo_label",
                    "model_id": 1,
                    "dataset_id": 1,
                    "mapping_version_id": 3,
                    "tta": False,
                    "shard_size": 50,
                    "output_name": "demo-run-1",
                }
            ]
        }
    }


class EvaluateParams(_Common, _Inference):
    """Evaluate ``model_id`` on ``dataset_id`` with GT mapped by ``mapping_version_id``."""

    kind: Literal["evaluate"] = "evaluate"
    model_id: Id
    dataset_id: Id
    mapping_version_id: Id
    split: ShortName | None = None
    allow_unapproved: bool = False
    override_reason: Text | None = None
    max_images: int | None = Field(default=None, ge=1)


class ScanDatasetParams(_Common):
    """Scan a registered dataset's files (pairs, sizes, label values) on a worker."""

    kind: Literal["scan_dataset"] = "scan_dataset"
    dataset_id: Id
    max_pairs: int | None = Field(
        default=None, ge=1, le=INT32_MAX, description="Check at most this many pairs"
    )


class ConvertLabelsParams(_Common):
    """Convert a dataset's native labels (Cityscapes polygons, COCO panoptic, nuImages) once into
    label-id PNGs under ``<data_dir>/converted/dataset-<id>``; a re-run resumes (``docs/datasets.md``)."""

    kind: Literal["convert_labels"] = "convert_labels"
    dataset_id: Id
    shard_size: int = Field(
        default=200,
        ge=1,
        le=100_000,
        description="Label files per shard (each shard is one leased task; polygon files take "
        "milliseconds each, so 200 keeps a shard to seconds while a large dataset still spreads "
        "over every worker)",
    )


class SurveyParams(_Common):
    """Run ``model_id`` without priors on a stratified sample of ``dataset_id`` and count, per source
    label, what the teacher predicts (mapping suggestions and audit, ``app.domain.survey``)."""

    kind: Literal["survey"] = "survey"
    model_id: Id
    dataset_id: Id
    split: ShortName | None = Field(default=None, description="Only this split (pattern datasets)")
    sample_size: int = Field(default=200, ge=1, le=100_000, description="Images to survey")
    seed: int = Field(default=0, ge=0, le=INT32_MAX, description="Seed of the pool and of ties")
    pool_size: int = Field(
        default=5000, ge=1, le=1_000_000, description="Images whose labels are read to pick the sample from"
    )
    shard_size: int = Field(default=50, ge=1, le=100_000, description="Images per shard")
    output_name: OutputName | None = Field(
        default=None, description="Folder under <data_dir>/outputs (default: job-<id>)"
    )


class TrainParams(_Common):
    """Train a student on weighted training sets; the best checkpoint is registered as a model.

    Every set must map to the same target taxonomy. Start from a registered model
    (``start_model_id``; its class head is resized when its classes differ) or a fresh model
    (``architecture``: ``"tiny"`` or a ``Mask2FormerConfig`` dict).
    """

    kind: Literal["train"] = "train"
    train_sets: list[TrainSetRef] = Field(min_length=1, max_length=32)
    val_sets: list[ValSetRef] = Field(default=[], max_length=16)
    start_model_id: Id | None = Field(default=None, description="Registered teacher or previous student")
    architecture: Literal["tiny"] | dict[str, Any] = Field(
        default="tiny", description="Fresh model when start_model_id is empty: 'tiny' or a config dict"
    )
    recipe: TrainRecipe = Field(default_factory=TrainRecipe)
    target_taxonomy_id: Id | None = Field(
        default=None, description="The taxonomy every set maps to (checked, or filled at submission)"
    )
    model_name: Name | None = Field(
        default=None, description="Name of the registered student (default: student-job-<id>)"
    )
    output_name: OutputName | None = Field(
        default=None, description="Run folder under <data_dir>/outputs (default: job-<id>)"
    )
    allow_unapproved: bool = Field(default=False, description="Allow unapproved mapping versions")
    override_reason: Text | None = Field(
        default=None, description="Required with allow_unapproved (recorded)"
    )
    allow_overlap: bool = Field(
        default=False, description="Allow training sets that share images with a validation set"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "kind": "train",
                    "train_sets": [
                        {"kind": "ground_truth", "dataset_id": 1, "mapping_version_id": 3, "weight": 1.0},
                        {"kind": "pseudo_labels", "job_id": 7, "weight": 1.0},
                    ],
                    "val_sets": [{"dataset_id": 1, "mapping_version_id": 3, "split": "val"}],
                    "start_model_id": 1,
                    "recipe": {"max_iterations": 2000, "batch_size": 4, "crop_size": [512, 512]},
                }
            ]
        }
    }


class ExportParams(_Common):
    """Export the labels of ``job_id`` (a succeeded pseudo_label run, or a label_import of one) by
    its target taxonomy, as ``export.zip`` (``GET /api/v1/jobs/<export job id>/export.zip``); or,
    instead of a run, the ground truth of ``dataset_id`` mapped to the target taxonomy of the
    approved ``mapping_version_id`` (its lookup table: ambiguous and void pixels become 255)."""

    kind: Literal["export"] = "export"
    job_id: Id | None = Field(default=None, description="The run whose labels are exported")
    dataset_id: Id | None = Field(
        default=None, description="Ground-truth export: the dataset (with mapping_version_id, no job_id)"
    )
    mapping_version_id: Id | None = Field(
        default=None,
        description="Ground-truth export: an approved version of a mapping from the dataset's taxonomy",
    )
    format: Literal["cvat", "cityscapes", "hf_imagefolder", "fiftyone"] = Field(
        default="cvat",
        description="cvat (Segmentation mask 1.1), cityscapes, hf_imagefolder or fiftyone (docs/exports.md)",
    )
    output_name: OutputName | None = Field(
        default=None, description="Folder under <data_dir>/outputs (default: job-<id>)"
    )

    @model_validator(mode="after")
    def _run_or_ground_truth(self) -> ExportParams:
        ground_truth = self.dataset_id is not None or self.mapping_version_id is not None
        if self.job_id is not None and ground_truth:
            raise ValueError("job_id: give a run, or dataset_id and mapping_version_id, not both")
        if self.job_id is None and (self.dataset_id is None or self.mapping_version_id is None):
            raise ValueError("job_id: give a run's job_id, or dataset_id and mapping_version_id")
        return self


JobParams = Annotated[
    PseudoLabelParams
    | EvaluateParams
    | ScanDatasetParams
    | TrainParams
    | SurveyParams
    | ExportParams
    | ConvertLabelsParams,
    Field(discriminator="kind"),
]


class JobSubmit(BaseModel):
    """The body of ``POST /api/v1/jobs``: one of the params models, chosen by ``kind``."""

    params: JobParams


class JobRead(ORMModel):
    id: int
    kind: str
    status: str
    name: str
    parent_id: int | None
    shard_index: int | None
    shard_count: int
    queue: str
    progress_current: int
    progress_total: int
    progress_fraction: float
    message: str
    params: dict[str, Any]
    dataset_id: int | None
    model_id: int | None
    mapping_version_id: int | None
    mapping_hash: str | None
    approval_override: str | None
    output_dir: str | None
    result: dict[str, Any] | None
    error: str | None
    traceback: str | None
    cancel_requested: bool
    attempt: int
    worker_host: str | None
    device: str | None
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    eta_seconds: float | None = None
    # The ETA estimator's state after this read (None unless running): send it back as ?eta_state= on
    # the next read of the job and eta_seconds is smoothed across reads, as on the job page.
    eta_state: str | None = None
    shards: list[JobShardRead] = []
    # True while the job's task message (or a shard's) is in the outbox after a failed publish.
    waiting_for_broker: bool = False


class JobShardRead(ORMModel):
    id: int
    shard_index: int | None
    status: str
    progress_current: int
    progress_total: int
    attempt: int
    worker_host: str | None
    error: str | None


class JobList(Page[JobRead]):
    pass


class JobLogLine(ORMModel):
    job_id: int
    created_at: datetime
    level: str
    message: str


class JobLogs(BaseModel):
    job_id: int
    lines: list[JobLogLine]


JobRead.model_rebuild()
