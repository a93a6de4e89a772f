"""Direct-call helpers of the earlier miniature reproduction, kept for ``benchmarks/survey_audit.py``.

``benchmarks/mini_reproduction.py`` now runs the method through the product's experiments; this is
the part of its earlier version (commit e0b55f8) that ``survey_audit.py`` trains its toy teacher
with: the scene splits on disk, the taxonomies and priors, the recipe and training (or reuse).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from app.domain.mapping import OntologyMapping
from app.domain.pairing import Pair
from app.domain.priors import CompiledPriors, compile_priors
from app.domain.taxonomy import Taxonomy, class_list_taxonomy
from worker.demo_scenes import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE, make_scene
from worker.ml.train import AugmentConfig, LabeledSet, TrainConfig, train


def write_split(
    root: Path,
    name: str,
    count: int,
    rng: np.random.Generator,
    size: tuple[int, int],
    conditions: list[str],
    upscale: int = 1,
) -> list[tuple[Pair, str]]:
    """Write ``count`` scenes under ``root/name``, cycling through ``conditions``.

    The extra split gets coarse labels, its fine truth is kept under ``hidden_fine`` for scoring.
    ``upscale`` > 1 writes each scene ``upscale`` times larger (image bilinear, labels by pixel
    repetition, so every class keeps its exact share): the same scenes seen by a camera of higher
    resolution, where the 1-4 px road markings are ``upscale`` times as wide.
    """
    folder = root / name
    for sub in ("images", "labels", "hidden_fine"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(count):
        condition = conditions[i % len(conditions)]
        image, fine = make_scene(rng, *size, condition=condition)
        if upscale > 1:
            big = (size[1] * upscale, size[0] * upscale)
            image = np.asarray(Image.fromarray(image).resize(big, Image.Resampling.BILINEAR))
            fine = np.repeat(np.repeat(fine, upscale, axis=0), upscale, axis=1)
        stem = f"{i:04d}.png"
        Image.fromarray(image).save(folder / "images" / stem)
        if name == "extra":
            Image.fromarray(FINE_TO_COARSE[fine]).save(folder / "labels" / stem)
            Image.fromarray(fine).save(folder / "hidden_fine" / stem)
        else:
            Image.fromarray(fine).save(folder / "labels" / stem)
        pairs.append((Pair(image=f"images/{stem}", label=f"labels/{stem}"), condition))
    return pairs


def taxonomies() -> tuple[Taxonomy, Taxonomy, CompiledPriors, CompiledPriors, str]:
    """Fine target taxonomy, coarse source taxonomy, identity and coarse->fine priors, mapping hash."""
    fine = class_list_taxonomy("mini-fine", enumerate(FINE_CLASSES))
    coarse = class_list_taxonomy("mini-coarse", enumerate(COARSE_CLASSES))
    identity = OntologyMapping.from_edges((name, i) for i, name in enumerate(FINE_CLASSES))
    edges = ((COARSE_CLASSES[c], f) for f, c in enumerate(FINE_TO_COARSE.tolist()))
    coarse_to_fine = OntologyMapping.from_edges(edges)
    return (
        fine,
        coarse,
        compile_priors(identity, fine, fine),
        compile_priors(coarse_to_fine, coarse, fine),
        coarse_to_fine.content_hash(),
    )


def recipe(out: Path, args: argparse.Namespace, seed: int, start: Path | None = None) -> TrainConfig:
    """The paper's recipe, shrunk: tiny model, small crops, a few thousand images seen.

    ``start``: a checkpoint to start from (default: a fresh, randomly initialised tiny model).
    """
    return TrainConfig(
        output_dir=out,
        class_names=FINE_CLASSES,
        start_model=None if start is None else str(start),
        model_config="tiny",
        max_iterations=args.iterations,
        batch_size=4,
        samples_per_epoch=args.samples_per_epoch,
        val_every=args.val_every,
        log_every=50,
        seed=seed,
        resume=False,
        # Random init needs a faster encoder than fine-tuning a pre-trained Swin (1e-5).
        encoder_lr=args.lr,
        lr=args.lr,
        augment=AugmentConfig(crop_size=tuple(args.size), scale_range=(0.75, 1.5)),
    )


def train_or_reuse(
    config: TrainConfig, train_sets: list[LabeledSet], val_sets: list[LabeledSet], reuse: bool
) -> tuple[Path, int | None]:
    """Train, or with ``reuse`` take a finished run's model from its ``result.json``."""
    done = config.output_dir / "result.json"
    if reuse and done.is_file():
        record = json.loads(done.read_text())
        return Path(record["model_checkpoint"]), record["best_step"]
    result = train(config, train_sets, val_sets)
    return result.model_checkpoint, result.best_step
