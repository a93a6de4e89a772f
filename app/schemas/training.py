"""Training edge schemas (schemas layer): the sets and recipe of a ``train`` job, and its metrics.

``TrainParams`` itself lives in :mod:`app.schemas.jobs` next to the other job kinds; the parts it is
built from live here. A recipe is a named preset (``app.domain.training_presets``) plus explicit
overrides; the worker copies every recipe field into ``worker.ml.train.config.TrainConfig``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain import training_presets as presets
from app.domain.training_presets import PRESET_NAMES, PresetName
from app.schemas.common import Id, ShortName, no_control_chars

Hash = Annotated[str, Field(max_length=64), AfterValidator(no_control_chars)]
ScheduleKind = Literal["step", "poly", "cosine"]
Fitness = Literal["paper", "miou", "miou_all", "pixel_accuracy", "neg_loss"]
MixtureKind = Literal["by_size", "by_weight"]


class TrainSetRef(BaseModel):
    """One training set: a registered dataset's ground truth, or a finished pseudo-label run.

    ``ground_truth`` needs ``dataset_id`` and ``mapping_version_id`` (labels are mapped to the target
    with the version's lookup table: ambiguous, void and unmapped labels become ignore 255).
    ``pseudo_labels`` needs ``job_id`` of a succeeded ``pseudo_label`` job (its 255 stays ignore).
    """

    kind: Literal["ground_truth", "pseudo_labels"] = "ground_truth"
    dataset_id: Id | None = Field(default=None, description="ground_truth: the registered dataset")
    mapping_version_id: Id | None = Field(default=None, description="ground_truth: the mapping version")
    split: ShortName | None = Field(default=None, description="Only the images of this split")
    job_id: Id | None = Field(default=None, description="pseudo_labels: a succeeded pseudo_label job")
    weight: float = Field(
        default=1.0,
        ge=0.0,
        description="by_weight: share of draws; by_size: multiplies each image's chance (docs/training.md)",
    )
    name: ShortName | None = Field(default=None, description="Shown in metrics (default: derived)")
    mapping_hash: Hash | None = Field(default=None, description="Filled at submission: the pinned version")
    crop_fraction: tuple[float, float] | None = Field(
        default=None,
        description="This set's crop fraction (min, max), instead of the recipe's. Left empty with the "
        "paper preset, TAS500 and Freiburg Forest get the reference's own (docs/training.md)",
    )
    crop_fraction_source: Annotated[str, Field(max_length=300)] | None = Field(
        default=None, description="Filled at submission: where this set's crop fraction comes from"
    )

    model_config = ConfigDict(allow_inf_nan=False)

    @field_validator("crop_fraction")
    @classmethod
    def _fraction(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1] <= 1:
            raise ValueError("the crop fraction must satisfy 0 < min ≤ max ≤ 1")
        return value

    @model_validator(mode="after")
    def _fields_of_kind(self) -> TrainSetRef:
        if self.kind == "ground_truth" and (self.dataset_id is None or self.mapping_version_id is None):
            raise ValueError("a ground_truth set needs dataset_id and mapping_version_id")
        if self.kind == "pseudo_labels" and self.job_id is None:
            raise ValueError("a pseudo_labels set needs job_id (a finished pseudo_label job)")
        return self


class ValSetRef(BaseModel):
    """One validation set: a registered dataset with ground truth, mapped like a training set."""

    dataset_id: Id
    mapping_version_id: Id
    split: ShortName | None = None
    name: ShortName | None = None
    mapping_hash: Hash | None = Field(default=None, description="Filled at submission: the pinned version")


class TrainRecipe(BaseModel):
    """The training recipe: a named ``preset`` plus explicit overrides.

    Every field left out takes the preset's value (``app.domain.training_presets``); ``custom`` has
    no values of its own, so its fields fall back to the class defaults, which are the paper's.
    ``overrides`` is filled here (never trusted from the input): the explicit fields whose value
    differs from the preset's. It is recorded with the job and the trained model.
    """

    model_config = ConfigDict(allow_inf_nan=False)

    preset: PresetName = Field(default="paper", description="paper | quick | custom (see docs/training.md)")
    overrides: list[str] = Field(
        default=[], description="Filled at validation: fields that differ from the preset"
    )
    epochs: int = Field(default=100, ge=1, description="Used when max_iterations is not set")
    max_iterations: int | None = Field(default=None, ge=1, description="Optimizer steps (wins over epochs)")
    samples_per_epoch: int | None = Field(default=None, ge=1, description="Draws per epoch (default: all)")
    batch_size: int = Field(default=4, ge=1, le=256, description="Per device")
    grad_accum_steps: int = Field(default=1, ge=1, le=256)
    encoder_lr: float = Field(default=1e-5, gt=0, description="AdamW lr of the Swin encoder")
    lr: float = Field(default=1e-4, gt=0, description="AdamW lr of everything else")
    weight_decay: float = Field(default=0.05, ge=0)
    norm_weight_decay: float = Field(
        default=0.05, ge=0, description="Weight decay of norms, biases, embeddings"
    )
    no_object_weight: float = Field(default=0.005, ge=0)
    grad_clip_norm: float | None = Field(default=1.0, gt=0)
    schedule: ScheduleKind = Field(default="step", description="step: x0.1 at 90 % and 95 %")
    step_milestones: tuple[float, ...] = Field(default=(0.9, 0.95), max_length=8)
    step_gamma: float = Field(default=0.1, gt=0, le=1)
    warmup_iterations: int | None = Field(default=None, ge=0, description="Default: one epoch")
    crop_size: tuple[int, int] = Field(default=(750, 1536), description="(H, W) of every training crop")
    crop_fraction: tuple[float, float] | None = Field(
        default=(0.67, 0.95), description="Crop this fraction of each image side, resized to crop_size"
    )
    scale_range: tuple[float, float] = Field(default=(1.0, 1.0), description="Random resize factor range")
    hflip_prob: float = Field(default=0.5, ge=0, le=1)
    brightness: float = Field(default=0.15, ge=0, lt=1)
    contrast: float = Field(default=0.15, ge=0, lt=1)
    saturation: float = Field(default=0.15, ge=0, lt=1)
    hue: float = Field(default=6.0 / 360.0, ge=0, le=0.5, description="Turns (1 = 360 degrees)")
    blur_prob: float = Field(default=0.005, ge=0, le=1)
    noise_prob: float = Field(default=0.0025, ge=0, le=1)
    noise_std: tuple[float, float] = Field(default=(2.55, 2.55), description="0-255 scale")
    shear_deg: float = Field(default=2.0, ge=0, le=45, description="Random shear in ±degrees")
    mixture: MixtureKind = Field(
        default="by_size",
        description="by_size: every image equally likely; by_weight: weight = share of draws",
    )
    val_every: int | None = Field(default=None, ge=1, description="Iterations (default: each epoch)")
    fitness: Fitness = Field(default="paper", description="paper = 0.8 mIoU + 0.2 pixel accuracy")
    early_stopping_patience: int | None = Field(default=15, ge=1, description="Validations; None = off")
    max_nonfinite_steps: int = Field(
        default=5, ge=1, le=1000, description="Stop after this many consecutive non-finite losses"
    )
    log_every: int = Field(default=10, ge=1)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """Preset values first, explicit fields over them; remember which were explicit."""
        if not isinstance(data, dict):
            return data
        name = data.get("preset", "paper")
        if name not in PRESET_NAMES:
            return data  # the Literal check names the field
        explicit = {k: v for k, v in data.items() if k not in ("preset", "overrides")}
        return {**presets.PRESETS[name].values, **explicit, "preset": name, "overrides": list(explicit)}

    @model_validator(mode="after")
    def _record_overrides(self) -> TrainRecipe:
        explicit = {k: getattr(self, k) for k in self.overrides if k in type(self).model_fields}
        defaults = {k: f.default for k, f in type(self).model_fields.items()}
        self.overrides = presets.overrides(self.preset, explicit, defaults)
        return self

    @field_validator("crop_size")
    @classmethod
    def _crop(cls, value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < 16:
            raise ValueError("the crop must be at least 16 × 16 pixels")
        return value

    @field_validator("scale_range")
    @classmethod
    def _scales(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] <= value[1]:
            raise ValueError("the scale range must satisfy 0 < min ≤ max")
        return value

    @field_validator("crop_fraction")
    @classmethod
    def _fraction(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1] <= 1:
            raise ValueError("the crop fraction must satisfy 0 < min ≤ max ≤ 1")
        return value

    @field_validator("noise_std")
    @classmethod
    def _noise(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError("the noise std range must satisfy 0 ≤ min ≤ max")
        return value

    def config_values(self) -> dict[str, Any]:
        """The recipe as ``TrainConfig`` keyword values (augmentation fields nested)."""
        values = self.model_dump(exclude={"preset", "overrides", *AUGMENT_FIELDS})
        values["augment"] = {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in self.model_dump(include=set(AUGMENT_FIELDS)).items()
        }
        values["step_milestones"] = list(self.step_milestones)
        return values


AUGMENT_FIELDS = (
    "crop_size", "crop_fraction", "scale_range", "hflip_prob", "brightness", "contrast", "saturation", "hue",
    "blur_prob", "noise_prob", "noise_std", "shear_deg",
)  # fmt: skip


class ClassIoU(BaseModel):
    id: int
    name: str
    color: str | None = None
    iou: float | None
    gt_pixels: int = 0
    pred_pixels: int = 0


class BestCheckpoint(BaseModel):
    """The best validation: its step, pooled and per-set metrics, per-class IoU, confusion matrices."""

    step: int
    metrics: dict[str, Any] = Field(description="Pooled miou, miou_all, pixel_accuracy, loss")
    per_set: dict[str, dict[str, Any]] = {}
    per_class_iou: list[ClassIoU] = []
    class_names: list[str] = []
    confusion: dict[str, list[list[int]]] = Field(
        default={}, description="Set name or 'pooled' -> (N, N+1) counts; rows = truth, last column = void"
    )


class TrainMetrics(BaseModel):
    """``GET /api/v1/jobs/{id}/metrics``: the run's ``metrics.jsonl`` records and its best checkpoint."""

    job_id: int
    status: str
    train: list[dict[str, Any]] = Field(
        default=[], description="Train records: step, train/loss, train/grad_norm, lr/<group>, epoch"
    )
    val: list[dict[str, Any]] = Field(
        default=[], description="Validation records: step, val/miou, val/<set>/miou, val_iou/<class>, ..."
    )
    best: BestCheckpoint | None = None
    model_id: int | None = Field(default=None, description="The registered model (when succeeded)")
    total_iterations: int | None = None
