"""Named training recipes (domain layer, pure): ``paper``, ``quick`` and ``custom``.

A preset is data: recipe field -> value, each value of ``paper`` with the place in the paper's
reference repository (``UniBwTAS/data-priors`` at commit 3c08b51) it comes from. A ``train``
submission names a preset; fields given explicitly next to it override the preset's values and
are listed in the recipe's ``overrides`` (recorded with the job and the trained model).
``custom`` has no values of its own: every field is the user's, the rest the recipe's defaults
(which are the paper's).

The web form, the API and the CLI read the same table, so the three agree value by value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

PresetName = Literal["paper", "quick", "custom"]
PRESET_NAMES: tuple[PresetName, ...] = ("paper", "quick", "custom")
REFERENCE = "UniBwTAS/data-priors@3c08b51"
PAPER_START_MODEL = "facebook/mask2former-swin-base-mapillary-vistas-semantic"


@dataclass(frozen=True, slots=True)
class Preset:
    """A named recipe: ``values`` (recipe field -> value) and ``sources`` (field -> citation)."""

    name: PresetName
    summary: str
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


def _cite(key: str) -> str:
    return f"{REFERENCE} {key}"


# (recipe field, value, where the reference says so)
_PAPER: tuple[tuple[str, Any, str], ...] = (
    ("epochs", 100, _cite("config.yaml training_params.epochs: 100")),
    ("batch_size", 4, _cite("config.yaml training_params.batch_size: 4 (per GPU)")),
    ("grad_accum_steps", 1, _cite("train.py TrainAgent.__init__: no nominal_batch_size in config.yaml -> 1")),
    ("encoder_lr", 1e-5, _cite("config.yaml optimizer.AdamW.encoder_lr: 0.00001")),
    ("lr", 1e-4, _cite("config.yaml optimizer.AdamW.lr: 0.0001")),
    ("weight_decay", 0.05, _cite("config.yaml optimizer.AdamW.weight_decay: 0.05")),
    (
        "norm_weight_decay",
        0.05,
        _cite("train.py get_optimizer: two groups (encoder, rest), weight_decay on every parameter"),
    ),
    ("no_object_weight", 0.005, _cite("config.yaml model_config.no_object_weight: 0.005")),
    ("grad_clip_norm", 1.0, _cite("config.yaml gradclip: 1.0")),
    ("schedule", "step", _cite("config.yaml lr_scheduler.name: MultiStepLR")),
    ("step_milestones", (0.9, 0.95), _cite("config.yaml lr_scheduler.MultiStepLR.milestones: [0.9, 0.95]")),
    ("step_gamma", 0.1, _cite("config.yaml lr_scheduler.MultiStepLR.gamma: 0.1")),
    ("warmup_iterations", None, _cite("config.yaml lr_scheduler.warmup_epochs: 1 (None = one epoch)")),
    ("crop_size", (750, 1536), _cite("config.yaml augmentation.base.image_dim: height 750, width 1536")),
    (
        "crop_fraction",
        (0.67, 0.95),
        _cite("config.yaml augmentation.base.min_crop_scale: 0.67, max_crop_scale: 0.95"),
    ),
    ("scale_range", (1.0, 1.0), _cite("no separate resize: the crop fraction sets the scale")),
    ("hflip_prob", 0.5, _cite("config.yaml augmentation.base.flip: 0.5")),
    ("brightness", 0.15, _cite("config.yaml augmentation.base.brightness: [0.85, 1.15]")),
    ("contrast", 0.15, _cite("config.yaml augmentation.base.contrast: [0.85, 1.15]")),
    ("saturation", 0.15, _cite("config.yaml augmentation.base.saturation: [0.85, 1.15]")),
    (
        "hue",
        6.0 / 360.0,
        _cite("config.yaml augmentation.base.hue_shift: [-3, 3] (OpenCV hue units of 2 degrees = ±6°)"),
    ),
    ("blur_prob", 0.005, _cite("config.yaml augmentation.base.blur_prob: 0.005")),
    ("noise_prob", 0.0025, _cite("config.yaml augmentation.base.noise_prob: 0.0025")),
    (
        "noise_std",
        (2.55, 2.55),
        _cite("config.yaml augmentation.base.gaussian_noise: 0.01 (of 0-1 intensities = 2.55 of 255)"),
    ),
    ("shear_deg", 2.0, _cite("config.yaml augmentation.base.affine.shear: [-2, 2]")),
    (
        "mixture",
        "by_size",
        _cite("DataLoader.py DataLoaderFactory.__call__: shuffle=True, sampler commented out"),
    ),
    ("val_every", None, _cite("config.yaml training_params.validation_interval: 1 (epoch)")),
    ("fitness", "paper", _cite("train.py _validate: fitness = mean_iou * 0.8 + mean_accuracy * 0.2")),
    ("early_stopping_patience", 15, _cite("config.yaml patience: 15")),
)

# Per-dataset crop fractions of the reference. With the ``paper`` preset a training set whose
# dataset (or its taxonomy, or its dataset preset) is named after one of these keys gets it; see
# ``dataset_crop_fraction``. A set's explicit ``crop_fraction`` always wins.
PAPER_DATASET_CROP_FRACTIONS: dict[str, tuple[tuple[float, float], str]] = {
    "tas500": ((0.33, 0.66), _cite("config.yaml augmentation.tas500: min 0.33, max 0.66")),
    "freiburgforest": ((0.45, 0.8), _cite("config.yaml augmentation.freiburgforest: min 0.45, max 0.8")),
}

_QUICK: dict[str, Any] = {
    "max_iterations": 300,
    "batch_size": 4,
    "crop_size": (96, 128),
    "crop_fraction": (0.67, 0.95),
    "scale_range": (1.0, 1.0),
    "warmup_iterations": 30,
    "val_every": 100,
    "early_stopping_patience": None,
    "mixture": "by_size",
    "fitness": "paper",
}

PRESETS: dict[PresetName, Preset] = {
    "paper": Preset(
        "paper",
        "The paper's recipe, value by value from the reference repository (hours to days on a GPU; "
        f"start from {PAPER_START_MODEL} as the paper did)",
        {k: v for k, v, _ in _PAPER},
        {k: s for k, _, s in _PAPER},
    ),
    "quick": Preset(
        "quick",
        "300 iterations on 96 × 128 crops, validation every 100: the demo (`make run`); about 10 minutes "
        "on a 2-core CPU",
        dict(_QUICK),
        {k: "unilabel: sized for the synthetic demo" for k in _QUICK},
    ),
    "custom": Preset(
        "custom", "Only your values; every other field keeps the recipe's default (the paper's)"
    ),
}


def _squash(name: str) -> str:
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def dataset_crop_fraction(
    preset_name: str, names: tuple[str | None, ...]
) -> tuple[tuple[float, float], str] | None:
    """The reference's own crop fraction for a training set, and its citation, under ``paper``.

    ``names`` are what identifies the set's dataset (its name, its taxonomy's, its preset's); one
    that starts with a reference key once case, spaces and punctuation are dropped matches
    (``Freiburg Forest``, ``freiburg-forest``, ``tas500-train``). Other presets: ``None``.
    """
    if preset_name != "paper":
        return None
    for name in names:
        squashed = _squash(name or "")
        for key, (fraction, source) in PAPER_DATASET_CROP_FRACTIONS.items():
            if squashed.startswith(key):
                return fraction, f"{source} (matched {name!r})"
    return None


def preset(name: str) -> Preset:
    """The preset called ``name``; ``KeyError`` for an unknown one."""
    return PRESETS[name]  # type: ignore[index]


def overrides(name: str, explicit: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Names of ``explicit`` fields whose value differs from what preset ``name`` gives (sorted).

    What the preset gives is its own value, else ``defaults`` (the recipe's). Tuples and lists
    compare equal element by element, so a JSON round-trip of a recipe adds no override.
    """
    base = {**defaults, **PRESETS[name].values}  # type: ignore[index]
    out = []
    for key, value in explicit.items():
        if key not in base or _norm(value) != _norm(base[key]):
            out.append(key)
    return sorted(out)


def _norm(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value
