"""The mini reproduction's domain and experiment specs (no torch; used by ``mini_reproduction.py``).

The synthetic scenes of :mod:`worker.demo_scenes`, written and registered with the demo builders of
:mod:`worker.demo_experiment` at the benchmark's own sizes:

* ``mini-source``: fine labels (8 classes); ``train`` clear weather only, ``val`` all four
  conditions (teacher and students pick their best checkpoint on it);
* ``mini-extra-a`` (fog, rain) and ``mini-extra-b`` (dusk, clear): coarse labels only (road /
  vegetation / sky / object); their hidden fine truth lies beside them, outside their roots;
* ``mini-test``: fine labels, one split per condition, held out (never a source, so never used to
  pick a checkpoint);
* ``mini-extra-a-fine`` / ``mini-extra-b-fine``: the extras' images with their *hidden fine truth*
  as labels, registered as fine datasets. Evaluated through the identity mapping they score a model
  on the extras' images; the pseudo-labels themselves are scored against the same files.

Two specs per training seed: the **method** (teacher trained on the source, extras pseudo-labelled
with the coarse -> fine priors, student on source + pseudo-labels) and the **ablation** (the same
teacher, pseudo-labels *without* priors, ``use_priors: false``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from worker.demo_experiment import (
    COARSE_MAPPING,
    FINE_NAME,
    IDENTITY_MAPPING,
    SceneSet,
    make_scene_sets,
    register_experiment,
)
from worker.demo_scenes import CONDITIONS

SOURCE = "mini-source"
EXTRAS = ("mini-extra-a", "mini-extra-b")
EXTRA_CONDITIONS = (("fog", "rain"), ("dusk", "clear"))
TEST = "mini-test"
PREFIX = "mini-repro"


def fine_truth(extra: str) -> str:
    """The dataset name of ``extra``'s images with their hidden fine truth."""
    return f"{extra}-fine"


@dataclass(frozen=True, slots=True)
class Sizes:
    """Image size, scene counts and training budget of one configuration."""

    height: int
    width: int
    source: int  # source train images (clear)
    val: int  # source val images (all conditions)
    extra: int  # train images of each extra
    test: int  # test images per condition
    iterations: int
    samples_per_epoch: int  # one epoch = the warm-up
    val_every: int


FULL = Sizes(
    64, 128, source=60, val=20, extra=150, test=25, iterations=1500, samples_per_epoch=400, val_every=100
)
QUICK = Sizes(48, 64, source=12, val=8, extra=12, test=4, iterations=150, samples_per_epoch=40, val_every=50)


def scene_sets(sizes: Sizes, data_seed: int = 1234) -> tuple[SceneSet, ...]:
    """The benchmark's datasets as demo scene sets (deterministic for a ``data_seed``)."""
    return (
        SceneSet(
            SOURCE,
            False,
            {"train": sizes.source, "val": sizes.val},
            {"train": ("clear",), "val": CONDITIONS},
            data_seed,
            "mini reproduction: fine labels, clear weather (train); all four conditions (val)",
        ),
        *(
            SceneSet(
                name,
                True,
                {"train": sizes.extra},
                {"train": conditions},
                data_seed + 1 + i,
                f"mini reproduction: {' and '.join(conditions)}, coarse labels only",
            )
            for i, (name, conditions) in enumerate(zip(EXTRAS, EXTRA_CONDITIONS, strict=True))
        ),
        SceneSet(
            TEST,
            False,
            {c: sizes.test for c in CONDITIONS},
            {c: (c,) for c in CONDITIONS},
            data_seed + 10,
            "mini reproduction: held-out fine test set, one split per condition",
        ),
    )


def register(session: Any, settings: Any, base: Path, sizes: Sizes, data_seed: int = 1234) -> dict[str, int]:
    """Write the scenes under ``base`` and register every dataset and mapping (flush only).

    Returns dataset name -> id (the fine-truth datasets included).
    """
    from app.db import repositories_registry as registry
    from app.schemas.datasets import DatasetCreate
    from app.services import datasets, taxonomies

    sets = scene_sets(sizes, data_seed)
    roots = make_scene_sets(base, scene_sets=sets, size=(sizes.height, sizes.width))
    ids = dict(register_experiment(session, settings, roots=roots, scene_sets=sets).datasets)
    fine_id = taxonomies.get_taxonomy_by_name(session, FINE_NAME).id
    for extra in EXTRAS:
        name = fine_truth(extra)
        existing = registry.get_dataset_by_name(session, name)
        if existing is None:
            body = DatasetCreate(
                name=name,
                taxonomy_id=fine_id,
                root=str(base),
                image_pattern=f"{extra}/images/{{split}}/{{stem}}.png",
                label_template=f"hidden-fine/{extra}/{{split}}/{{stem}}.png",
                splits=["train"],
                description=f"{extra}'s images with their hidden fine truth (for scoring only)",
            )
            existing = datasets.register_dataset(session, body=body, settings=settings)
            datasets.scan_dataset(session, existing.id)
        ids[name] = int(existing.id)
    return ids


def recipe(sizes: Sizes, seed: int) -> dict[str, Any]:
    """The old benchmark's recipe as a training recipe (the paper's, shrunk; random init).

    Nothing is pretrained, so both parameter groups learn at 4e-4; full-image crops at scale
    0.75-1.5; half of the draws from the source, half from the extras (``by_weight``); the best
    val mIoU is kept; no early stopping.
    """
    return {
        "preset": "custom",
        "max_iterations": sizes.iterations,
        "samples_per_epoch": sizes.samples_per_epoch,
        "batch_size": 4,
        "encoder_lr": 4e-4,
        "lr": 4e-4,
        "norm_weight_decay": 0.0,
        "crop_size": [sizes.height, sizes.width],
        "crop_fraction": None,
        "scale_range": [0.75, 1.5],
        "brightness": 0.25,
        "contrast": 0.25,
        "saturation": 0.25,
        "hue": 0.05,
        "blur_prob": 0.05,
        "noise_prob": 0.05,
        "noise_std": [2.0, 8.0],
        "shear_deg": 0.0,
        "mixture": "by_weight",
        "val_every": sizes.val_every,
        "fitness": "miou",
        "early_stopping_patience": None,
        "log_every": 50,
        "seed": seed,
    }


def evaluation_sets() -> list[dict[str, Any]]:
    """Source val (checkpoint selection), the test set whole and per condition, the extras' fine truth."""
    identity = {"mapping": IDENTITY_MAPPING}
    return [
        {"dataset": SOURCE, **identity, "split": "val", "name": "val"},
        {"dataset": TEST, **identity, "name": "test"},
        *({"dataset": TEST, **identity, "split": c, "name": f"test-{c}"} for c in CONDITIONS),
        *(
            {
                "dataset": fine_truth(e),
                **identity,
                "split": "train",
                "name": f"{e.removeprefix('mini-')}-fine-truth",
            }
            for e in EXTRAS
        ),
    ]


def method_name(seed: int) -> str:
    return f"{PREFIX}-seed{seed}"


def ablation_name(seed: int) -> str:
    return f"{PREFIX}-seed{seed}-no-priors"


def _spec(
    name: str, description: str, teacher: dict[str, Any], sizes: Sizes, seed: int, **pl: Any
) -> dict[str, Any]:
    train = recipe(sizes, seed)
    return {
        "name": name,
        "description": description,
        "target_taxonomy": FINE_NAME,
        "teacher": teacher,
        "sources": [{"dataset": SOURCE, "mapping": IDENTITY_MAPPING, "split": "train", "name": "source"}],
        "extras": [
            {
                "dataset": e,
                "mapping": COARSE_MAPPING,
                "split": "train",
                "weight": 0.5,
                "name": e.removeprefix("mini-"),
            }
            for e in EXTRAS
        ],
        "evaluation": evaluation_sets(),
        "student": {"training": train, "architecture": "tiny"},
        "pseudo_label": {"tta": False, "batch_size": 16, "shard_size": 50, **pl},
        "rounds": 1,
    }


def method_spec(sizes: Sizes, seed: int, device: str = "auto") -> dict[str, Any]:
    """Teacher trained on the source; extras pseudo-labelled with priors; student on both."""
    teacher = {"train": recipe(sizes, seed), "architecture": "tiny"}
    description = f"mini reproduction, training seed {seed}: the method (pseudo-labels with priors)"
    return {**_spec(method_name(seed), description, teacher, sizes, seed, use_priors=True), "device": device}


def ablation_spec(sizes: Sizes, seed: int, teacher_model: str | int, device: str = "auto") -> dict[str, Any]:
    """The method's teacher (a registered model), pseudo-labels *without* priors, a student on them."""
    description = f"mini reproduction, training seed {seed}: ablation (pseudo-labels without priors)"
    spec = _spec(ablation_name(seed), description, {"model": teacher_model}, sizes, seed, use_priors=False)
    return {**spec, "device": device}


def write_spec(path: Path, spec: dict[str, Any], header: str) -> Path:
    """``spec`` as YAML at ``path`` (with a comment header)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {header}\n" + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path
