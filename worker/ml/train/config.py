"""Training configuration (worker.ml layer): the paper's recipe as defaults, every value configurable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ScheduleKind = Literal["step", "poly", "cosine"]
MixedPrecision = Literal["auto", "no", "bf16", "fp16"]
Fitness = Literal["paper", "miou", "miou_all", "pixel_accuracy", "neg_loss"]
MixtureKind = Literal["by_size", "by_weight"]


@dataclass(slots=True)
class AugmentConfig:
    """Training-time augmentation, applied jointly to image and label (label resampled nearest).

    All random quantities are drawn from *continuous* ranges (the reference implementation draws
    from accidental two-value choices; we do not).
    """

    crop_size: tuple[int, int] = (512, 1024)  # (H, W) of every training sample
    scale_range: tuple[float, float] = (0.5, 2.0)  # resize factor of the original image, uniform
    hflip_prob: float = 0.5
    brightness: float = 0.25  # factor drawn from U(1 - b, 1 + b)
    contrast: float = 0.25
    saturation: float = 0.25
    hue: float = 0.05  # hue rotation drawn from U(-h, h) turns (1.0 = 360 degrees)
    blur_prob: float = 0.05
    blur_sigma: tuple[float, float] = (0.3, 1.5)  # pixels, uniform
    noise_prob: float = 0.05
    noise_std: tuple[float, float] = (2.0, 8.0)  # on the 0-255 scale, uniform
    # When set, each crop covers this fraction (uniform) of the image's height and width and is
    # resized to crop_size (the reference's min/max_crop_scale); scale_range then multiplies it.
    crop_fraction: tuple[float, float] | None = None
    shear_deg: float = 0.0  # horizontal shear drawn from U(-s, s) degrees


@dataclass(slots=True)
class TrainConfig:
    """Everything :func:`worker.ml.train.loop.train` needs besides the data.

    Iterations are *optimizer* steps. One epoch is ``samples_per_epoch`` draws from the weighted
    sampler (default: the total size of all training sets) divided by the global batch
    (``batch_size * processes * grad_accum_steps``), rounded up.
    """

    output_dir: Path
    class_names: tuple[str, ...]  # the target taxonomy's classes, ids 0..N-1
    # Model start: a checkpoint/HF folder or cached id, or None for a fresh model from `model_config`.
    start_model: str | None = None
    # A paper .pth start model whose pickle holds more than the allow-listed config classes loads
    # only with this (the registry's per-model flag); the start model's normalisation can be
    # overridden as a registered model's can (0-255 scale, both or neither).
    start_model_trust_pickle: bool = False
    start_model_mean: tuple[float, float, float] | None = None
    start_model_std: tuple[float, float, float] | None = None
    model_config: str | dict[str, Any] = "tiny"  # "tiny" or a Mask2FormerConfig dict (fresh start only)
    # Normalisation for a fresh model (0-255 scale); a loaded model brings its own.
    normalization_mean: tuple[float, float, float] = (123.675, 116.28, 103.53)
    normalization_std: tuple[float, float, float] = (58.395, 57.12, 57.375)
    # Budget: max_iterations wins when set, else epochs * iterations per epoch.
    epochs: int = 50
    max_iterations: int | None = None
    samples_per_epoch: int | None = None
    batch_size: int = 4  # per device (process)
    grad_accum_steps: int = 1
    # Optimiser (AdamW): the Swin encoder learns 10x slower than the rest.
    encoder_lr: float = 1e-5
    lr: float = 1e-4
    weight_decay: float = 0.05
    norm_weight_decay: float = 0.0  # for norms, biases and embeddings (Mask2Former's own choice)
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip_norm: float | None = 1.0
    # Mask2Former loss
    no_object_weight: float = 0.005
    # Schedule: one epoch of linear warm-up, then the chosen decay.
    schedule: ScheduleKind = "step"
    warmup_iterations: int | None = None  # None = one epoch
    warmup_start_factor: float = 0.001
    step_milestones: tuple[float, ...] = (0.9, 0.95)  # fractions of the total iterations
    step_gamma: float = 0.1
    poly_power: float = 0.9
    min_lr_factor: float = 0.0  # floor of poly/cosine
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # Validation: every `val_every` iterations, or at each epoch end when None.
    val_every: int | None = None
    fitness: Fitness = "miou"
    early_stopping_patience: int | None = None  # validations without improvement; None = off
    # Checkpointing (last): at every validation and every `checkpoint_every` iterations
    # (None = at the validation cadence, i.e. each epoch by default, even without validation sets).
    checkpoint_every: int | None = None
    resume: bool = True  # continue from output_dir's last checkpoint when one exists
    log_every: int = 10
    seed: int = 0
    mixed_precision: MixedPrecision = "auto"  # auto = bf16 on CUDA, none on CPU
    cpu: bool = False  # force CPU even when a GPU is present
    num_workers: int = 0  # DataLoader workers per process
    # Mask2Former leaves a few parameters out of the loss graph (DDP fails without this).
    find_unused_parameters: bool = True
    # by_size: every image of every set equally likely, times its set's weight (the paper's shuffle);
    # by_weight: a set's weight is its share of draws, whatever its size.
    mixture: MixtureKind = "by_weight"
    # A non-finite loss skips the optimizer step; this many in a row stop the run with an error.
    max_nonfinite_steps: int = 5

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form (paths as strings, tuples as lists), stored with checkpoints."""
        data = dataclasses.asdict(self)
        data["output_dir"] = str(self.output_dir)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_json`; unknown keys raise ``TypeError`` naming them."""
        values = dict(data)
        augment = AugmentConfig(**_tuples(values.pop("augment", {}), AugmentConfig))
        values = _tuples(values, cls)
        values["output_dir"] = Path(values["output_dir"])
        return cls(augment=augment, **values)


def _tuples(values: dict[str, Any], kind: type) -> dict[str, Any]:
    """Turn JSON lists back into tuples for the dataclass fields typed as tuples."""
    names = {f.name: str(f.type) for f in dataclasses.fields(kind)}
    unknown = set(values) - set(names)
    if unknown:
        raise TypeError(f"unknown {kind.__name__} keys: {sorted(unknown)}")
    return {
        k: tuple(v) if isinstance(v, list) and names[k].startswith("tuple") else v for k, v in values.items()
    }
