"""Experiment schemas (schemas layer): the spec (YAML/JSON file, API body, browser form) and reads.

A spec names registered objects by name (portable between installations) or by id. The same spec
through any path (``unilabel experiment run spec.yaml``, ``POST /api/v1/experiments``, the form)
is validated here and resolved by :mod:`app.services.experiments` into the same pinned inputs.
The format is documented in ``docs/experiments.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.schemas.common import Name, ShortName, ShortText, Text
from app.schemas.jobs import QueueName, _Inference
from app.schemas.training import TrainRecipe

# A registered object by name or by id (a YAML number is an id; quote a name that looks like one).
Ref = Annotated[int, Field(ge=1, le=2**31 - 1)] | Name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SetSpec(_Strict):
    """A dataset with the mapping that takes its labels to the target taxonomy."""

    dataset: Ref = Field(description="Registered dataset (name or id)")
    mapping: Ref = Field(description="Mapping from the dataset's taxonomy to the target (name or id)")
    version: int | None = Field(
        default=None, ge=1, description="Approved version number to pin (default: the newest approved)"
    )
    split: ShortName | None = Field(default=None, description="Only this split (default: every image)")
    weight: float = Field(default=1.0, ge=0.0, le=1e6, description="Mixture weight in training")
    name: ShortName | None = Field(default=None, description="Shown in tables (default: dataset[-split])")


class TeacherSpec(_Strict):
    """The teacher: a registered model over the target classes, or one trained on the sources first."""

    model: Ref | None = Field(default=None, description="Registered model (name or id)")
    train: TrainRecipe | None = Field(default=None, description="Train the teacher on the sources first")
    architecture: Literal["tiny"] | dict[str, Any] = Field(
        default="tiny", description="A trained teacher's fresh model: 'tiny' or a Mask2FormerConfig dict"
    )
    start_model: Ref | None = Field(default=None, description="A trained teacher starts from this model")

    @model_validator(mode="after")
    def _one(self) -> TeacherSpec:
        if (self.model is None) == (self.train is None):
            raise ValueError("give the teacher either `model` (a registered model) or `train` (a recipe)")
        return self


class StudentSpec(_Strict):
    """How the student is trained on the compound set."""

    training: TrainRecipe = Field(default_factory=TrainRecipe, description="Recipe (default: the paper's)")
    start_model: Ref | None = Field(default=None, description="Start from this model (default: fresh)")
    start_from_teacher: bool = Field(
        default=False,
        description="Start each round's student from the model that labelled its extras (fine-tuning); "
        "default off: a fresh model, or start_model",
    )
    architecture: Literal["tiny"] | dict[str, Any] = Field(
        default="tiny", description="Fresh model without start_model: 'tiny' or a Mask2FormerConfig dict"
    )

    @model_validator(mode="after")
    def _one_start(self) -> StudentSpec:
        if self.start_from_teacher and self.start_model is not None:
            raise ValueError("give the student either `start_model` or `start_from_teacher`, not both")
        return self


class LabelOptions(_Inference):
    """Pseudo-labelling (and evaluation inference) options; the defaults are the paper's."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    use_priors: bool = True
    threshold: float | None = Field(default=None, ge=0.0, le=1.0, description="Confidence below -> void")
    shard_size: int = Field(default=50, ge=1, le=100_000, description="Images per shard")


class ExperimentSpec(_Strict):
    """One experiment: the teacher, sources, extras, evaluation sets, recipe and rounds."""

    name: Name
    description: Text = ""
    target_taxonomy: Ref = Field(description="The target taxonomy (name or id): a class list")
    teacher: TeacherSpec
    sources: list[SetSpec] = Field(min_length=1, max_length=16, description="Ground-truth sets")
    extras: list[SetSpec] = Field(min_length=1, max_length=32, description="Sets to pseudo-label")
    evaluation: list[SetSpec] = Field(min_length=1, max_length=16, description="Scored for both models")
    student: StudentSpec = Field(default_factory=StudentSpec)
    pseudo_label: LabelOptions = Field(default_factory=LabelOptions)
    rounds: int = Field(default=1, ge=1, le=5, description="Round 2: the student re-labels the extras")
    queue: QueueName = "default"
    device: ShortText = "auto"


class ExperimentCreate(BaseModel):
    """``POST /api/v1/experiments``: a spec, and whether to start its first run at once."""

    spec: ExperimentSpec
    start: bool = Field(default=True, description="Start run 1 now")


class StageRead(BaseModel):
    key: str
    kind: str
    round: int
    job_id: int | None
    status: str  # the job's status, or "waiting" (not submitted yet)
    progress_fraction: float = 0.0
    reused: bool = False
    update_of_job_id: int | None = None
    title: str = ""


class RunRead(BaseModel):
    id: int
    number: int
    status: str
    reason: str
    message: str
    created_at: datetime
    finished_at: datetime | None
    stages: list[StageRead] = []
    done: int = 0
    total: int = 0


class ExtraStaleness(BaseModel):
    extra: str
    pinned_version: int
    newest_version: int | None
    stale: bool
    changed_labels: list[str] = []
    affected_images: int | None = None
    total_images: int | None = None
    summary: str = ""


class ExperimentRead(BaseModel):
    id: int
    name: str
    description: str
    spec: dict[str, Any]
    spec_hash: str
    created_at: datetime
    runs: list[RunRead] = []
    staleness: list[ExtraStaleness] = []


class ExperimentList(BaseModel):
    items: list[ExperimentRead]
    total: int
    limit: int
    offset: int
