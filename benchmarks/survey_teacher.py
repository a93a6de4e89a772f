"""The toy teacher of ``benchmarks/survey_audit.py``: its recipe, its cache, its own quality, an oracle.

* :func:`add_teacher_args` / :func:`teacher_config`: the recipe, every value on the command line.
  The defaults differ from ``mini_reproduction``'s brief teacher (600 iterations, scale 0.75-1.5,
  the default colour jitter): 1,500 iterations; no down-scaling (scale 1.0-1.5), so that the
  1-4 px road markings are not thinned away by the nearest-neighbour label resampling; stronger
  brightness/contrast jitter, blur and noise, because the teacher sees only *clear* scenes and the
  survey runs on fog, dusk and rain. The trainer has no class weights (Mask2Former's loss weighs
  only the no-object class), so there is no class balancing.
* :func:`trained_teacher`: trains once per recipe and data; the run lives in
  ``<out>/teacher-<key>`` where ``key`` hashes the training config (output folder left out) and the
  data parameters, and a re-run with the same values reuses it (nothing is downloaded).
* :func:`teacher_quality`: the teacher's IoU per fine class on the extra scenes' hidden fine
  truth (held out: never trained on, never used to pick the checkpoint), overall and per condition.
* :func:`oracle_stats`: the survey a perfect teacher would produce (the hidden fine truth counted
  per coarse label): the ceiling of what data evidence can show on this domain.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.domain.pairing import Pair
from app.domain.survey import SurveyStats
from worker.demo_scenes import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE
from worker.ml.banded import argmax_labels
from worker.ml.checkpoints import LoadedModel
from worker.ml.evaluate import ConfusionMatrix
from worker.ml.io import read_png
from worker.ml.modeling import tiny_config
from worker.ml.train import AugmentConfig, LabeledSet, TrainConfig, train
from worker.ml.tta import View, predict_score_maps

TINY_TRAIN_POINTS = tiny_config({0: "x"}).train_num_points


def add_teacher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--samples-per-epoch", type=int, default=400)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--scale-range", type=float, nargs=2, default=[1.0, 1.5], metavar=("LO", "HI"))
    p.add_argument("--brightness", type=float, default=0.6, help="colour jitter (mini_reproduction: 0.25)")
    p.add_argument("--contrast", type=float, default=0.5, help="colour jitter (mini_reproduction: 0.25)")
    p.add_argument("--blur-prob", type=float, default=0.2, help="(mini_reproduction: 0.05)")
    p.add_argument("--noise-prob", type=float, default=0.2, help="(mini_reproduction: 0.05)")
    p.add_argument("--noise-std", type=float, nargs=2, default=[2.0, 10.0], metavar=("LO", "HI"))
    p.add_argument(
        "--train-points",
        type=int,
        default=TINY_TRAIN_POINTS,
        help="points per mask in Mask2Former's sampled mask loss (the tiny config's: "
        f"{TINY_TRAIN_POINTS}; a 64 x 128 scene has 8,192 pixels)",
    )


def teacher_config(out: Path, args: argparse.Namespace) -> TrainConfig:
    """``mini_reproduction``'s recipe (tiny model, random init, batch 4, lr 4e-4) with these values."""
    model: str | dict[str, Any] = "tiny"
    if args.train_points != TINY_TRAIN_POINTS:  # the tiny config with another number of loss points
        config = tiny_config(dict(enumerate(FINE_CLASSES)))
        config.train_num_points = args.train_points
        model = {k: v for k, v in config.to_dict().items() if k not in ("id2label", "label2id")}
    return TrainConfig(
        output_dir=out,
        class_names=FINE_CLASSES,
        model_config=model,
        max_iterations=args.iterations,
        batch_size=4,
        samples_per_epoch=args.samples_per_epoch,
        val_every=args.val_every,
        log_every=50,
        seed=args.seed,
        resume=False,
        encoder_lr=args.lr,
        lr=args.lr,
        augment=AugmentConfig(
            crop_size=(args.size[0] * args.upscale, args.size[1] * args.upscale),
            scale_range=(args.scale_range[0], args.scale_range[1]),
            brightness=args.brightness,
            contrast=args.contrast,
            blur_prob=args.blur_prob,
            noise_prob=args.noise_prob,
            noise_std=(args.noise_std[0], args.noise_std[1]),
        ),
    )


def cache_key(config: TrainConfig, data: dict[str, Any]) -> str:
    """Hash of the training config (its output folder left out) and of the data it is trained on."""
    recipe = {k: v for k, v in config.to_json().items() if k != "output_dir"}
    text = json.dumps({"recipe": recipe, "data": data}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trained_teacher(
    out: Path, args: argparse.Namespace, data: dict[str, Any], train_set: LabeledSet, val_set: LabeledSet
) -> tuple[Path, dict[str, Any]]:
    """The best checkpoint of the teacher for this recipe and data: trained now, or the cached one."""
    probe = teacher_config(out, args)
    key = cache_key(probe, data)
    config = dataclasses.replace(probe, output_dir=out / f"teacher-{key}")
    done = config.output_dir / "result.json"
    info: dict[str, Any] = {"dir": str(config.output_dir), "key": key, "cached": done.is_file()}
    if not done.is_file():
        config.output_dir.mkdir(parents=True, exist_ok=True)
        (config.output_dir / "cache_key.json").write_text(
            json.dumps({"recipe": config.to_json(), "data": data}, indent=2)
        )
        train(config, [train_set], [val_set])
    record = json.loads(done.read_text())
    info["best_step"] = record.get("best_step")
    return Path(record["model_checkpoint"]), info


def _predict(teacher: LoadedModel, path: Path, device: str) -> torch.Tensor:
    image = read_png(path)
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].to(device)
    maps = predict_score_maps(teacher.model, x, teacher.normalization, (View(),))
    return argmax_labels(maps, teacher.num_classes)[0].cpu()


def teacher_quality(
    teacher: LoadedModel, root: Path, pairs: list[tuple[Pair, str]], device: str
) -> dict[str, Any]:
    """IoU per fine class on the hidden fine truth of ``pairs``, the prediction being the arg-max over
    the real classes, as in unilabel's evaluations (``worker.ml.evaluate``) and in the survey's class
    shares. (Until 2026-12-03 the arg-max included void, whose predictions counted as misses.)"""
    n = len(FINE_CLASSES)
    overall = ConfusionMatrix(n)
    by_condition: dict[str, ConfusionMatrix] = {}
    with torch.no_grad():
        for pair, condition in pairs:
            pred = _predict(teacher, root / pair.image, device)
            truth = torch.from_numpy(np.array(read_png(root / "hidden_fine" / Path(str(pair.label)).name)))
            overall.update(pred, truth)
            by_condition.setdefault(condition, ConfusionMatrix(n)).update(pred, truth)

    def short(m: ConfusionMatrix) -> dict[str, Any]:
        full = m.metrics(FINE_CLASSES)
        return {
            "miou": round(full["miou"], 3),
            "iou": {c["name"]: None if c["iou"] is None else round(c["iou"], 3) for c in full["per_class"]},
        }

    return {
        "images": len(pairs),
        "overall": short(overall),
        "by_condition": {c: short(m) for c, m in sorted(by_condition.items())},
    }


def oracle_stats(root: Path, pairs: list[Pair]) -> SurveyStats:
    """The survey of a perfect teacher: each coarse label's pixels counted by their fine truth."""
    stats = SurveyStats(FINE_CLASSES)
    n = len(FINE_CLASSES)
    for pair in pairs:
        fine = np.array(read_png(root / "hidden_fine" / Path(str(pair.label)).name)).astype(np.int64)
        coarse = FINE_TO_COARSE[fine]
        for c, name in enumerate(COARSE_CLASSES):
            counts = np.bincount(fine[coarse == c], minlength=n + 1)
            if counts.sum():
                stats.add(name, counts.tolist(), counts.astype(float).tolist())
        stats.images += 1
    return stats
