"""Miniature reproduction of the method (arXiv 2502.19177) on procedurally generated scenes.

Runs the whole method through unilabel's own code paths (domain mapping + compile_priors,
worker.ml training, pseudo-labelling and evaluation):

1. a teacher is trained on a small *source* set with fine labels (8 classes);
2. the teacher pseudo-labels a larger *extra* set whose labels are coarse (road / vegetation / sky /
   object), once with the coarse -> fine priors and once without;
3. a student is trained on the source ground truth + the prior pseudo-labels (and, as an ablation,
   one on source + no-prior pseudo-labels);
4. pseudo-labels are scored against the extra set's hidden fine truth, and teacher and students on
   a held-out fine test set.

Usage (results in docs/reproduction.md)::

    .venv/bin/python benchmarks/mini_reproduction.py --out /tmp/mini-repro --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from app.domain.mapping import OntologyMapping
from app.domain.pairing import Pair
from app.domain.priors import CompiledPriors, compile_priors
from app.domain.taxonomy import Taxonomy, class_list_taxonomy
from worker.demo_scenes import COARSE_CLASSES, CONDITIONS, FINE_CLASSES, FINE_TO_COARSE, make_scene
from worker.ml.checkpoints import load_model
from worker.ml.config import DataConfig, EvaluateConfig, InferenceConfig, PseudoLabelConfig
from worker.ml.data import PairDataset
from worker.ml.evaluate import ConfusionMatrix, evaluate_dataset, metrics_from_confusion
from worker.ml.io import read_png
from worker.ml.pseudo_label import run_pseudo_labeling
from worker.ml.train import AugmentConfig, LabeledSet, TrainConfig, train
from worker.ml.train.datasets import DatasetPairs, PseudoLabelPairs, pseudo_label_path

log = logging.getLogger("mini_reproduction")
SPLITS = ("source", "extra", "val", "test")


def write_split(
    root: Path,
    name: str,
    count: int,
    rng: np.random.Generator,
    size: tuple[int, int],
    conditions: list[str],
) -> list[tuple[Pair, str]]:
    """Write ``count`` scenes under ``root/name``, cycling through ``conditions``.

    The extra split gets coarse labels, its fine truth is kept under ``hidden_fine`` for scoring.
    """
    folder = root / name
    for sub in ("images", "labels", "hidden_fine"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(count):
        condition = conditions[i % len(conditions)]
        image, fine = make_scene(rng, *size, condition=condition)
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
        augment=AugmentConfig(crop_size=tuple(args.size), scale_range=(0.75, 1.5)),  # type: ignore[arg-type]
    )


def evaluate_on(
    model_dir: Path, root: Path, pairs: list[tuple[Pair, str]], priors: CompiledPriors, device: str
) -> dict[str, Any]:
    """Test metrics over all pairs, plus ``by_condition`` (mIoU per scene condition)."""
    model = load_model(model_dir, device=device)
    config = EvaluateConfig(inference=InferenceConfig(device=device, batch_size=16))

    def run(subset: list[Pair]) -> dict[str, Any]:
        return evaluate_dataset(config, model, subset, DataConfig(root=root), priors=priors).metrics

    metrics = run([pair for pair, _ in pairs])
    conditions = sorted({c for _, c in pairs})
    if len(conditions) > 1:
        metrics["by_condition"] = {
            c: run([pair for pair, cond in pairs if cond == c])["miou"] for c in conditions
        }
    return metrics


def score_pseudo_labels(run_dir: Path, extra_root: Path, pairs: list[tuple[Pair, str]]) -> dict[str, Any]:
    """Pseudo-labels vs the hidden fine truth (void 255 counts as a miss), the void fraction, and
    ``by_condition`` (mIoU per scene condition)."""
    matrices = {c: ConfusionMatrix(len(FINE_CLASSES)) for c in {c for _, c in pairs}}
    void = total = 0
    for pair, condition in pairs:
        predicted = read_png(pseudo_label_path(run_dir, pair)).astype(np.int64)
        truth = read_png(extra_root / "hidden_fine" / Path(pair.image).name).astype(np.int64)
        matrices[condition].update(torch.from_numpy(predicted), torch.from_numpy(truth))
        void += int((predicted == 255).sum())
        total += predicted.size
    overall = sum(m.matrix.numpy() for m in matrices.values())
    metrics = metrics_from_confusion(overall, FINE_CLASSES)
    metrics["void_fraction"] = void / max(total, 1)
    if len(matrices) > 1:
        metrics["by_condition"] = {
            c: metrics_from_confusion(m.matrix.numpy(), FINE_CLASSES)["miou"]
            for c, m in sorted(matrices.items())
        }
    return metrics


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


def run_seed(
    seed: int, root: Path, out: Path, pairs: dict[str, list[tuple[Pair, str]]], args: argparse.Namespace
) -> dict[str, Any]:
    fine, coarse, identity, coarse_priors, mapping_hash = taxonomies()
    plain = {split: [pair for pair, _ in items] for split, items in pairs.items()}
    source = LabeledSet(
        "source", DatasetPairs(PairDataset(root / "source", plain["source"])), lut=identity.lut, weight=1.0
    )
    val = LabeledSet("val", DatasetPairs(PairDataset(root / "val", plain["val"])), lut=identity.lut)
    seed_dir = out / f"seed-{seed}"
    timings: dict[str, float] = {}
    tic = time.perf_counter()
    teacher, teacher_step = train_or_reuse(
        recipe(seed_dir / "teacher", args, seed), [source], [val], args.reuse
    )
    timings["teacher_train_s"] = time.perf_counter() - tic
    result: dict[str, Any] = {"seed": seed, "teacher_best_step": teacher_step}
    result["teacher_test"] = evaluate_on(teacher, root / "test", pairs["test"], identity, args.device)
    loaded = load_model(teacher, device=args.device)
    for use_priors in (True, False):
        tag = "priors" if use_priors else "no_priors"
        run_dir = seed_dir / f"pseudo-{tag}"
        tic = time.perf_counter()
        config = PseudoLabelConfig(
            out_dir=run_dir,
            inference=InferenceConfig(device=args.device, batch_size=16),
            use_priors=use_priors,
        )
        run_pseudo_labeling(
            config,
            loaded,
            plain["extra"],
            DataConfig(root=root / "extra"),
            priors=coarse_priors if use_priors else None,
            source=coarse,
            mapping_hash=mapping_hash,
        )
        timings[f"pseudo_{tag}_s"] = time.perf_counter() - tic
        result[f"pseudo_{tag}"] = score_pseudo_labels(run_dir, root / "extra", pairs["extra"])
    for tag in ("priors", "no_priors") if args.ablation else ("priors",):
        extra = LabeledSet(
            f"extra-pseudo-{tag}",
            PseudoLabelPairs(root / "extra", seed_dir / f"pseudo-{tag}", plain["extra"]),
            kind="pseudo_labels",
            weight=args.extra_weight,
        )
        tic = time.perf_counter()
        start = teacher if args.student_init == "teacher" else None
        config = recipe(seed_dir / f"student-{tag}", args, seed, start)
        student, step = train_or_reuse(config, [source, extra], [val], args.reuse)
        result[f"student_{tag}_best_step"] = step
        timings[f"student_{tag}_train_s"] = time.perf_counter() - tic
        result[f"student_{tag}_test"] = evaluate_on(
            student, root / "test", pairs["test"], identity, args.device
        )
    if args.student_init == "teacher":
        # The control: the same continued training from the teacher, on the source alone.
        tic = time.perf_counter()
        config = recipe(seed_dir / "teacher-continued", args, seed, teacher)
        continued, step = train_or_reuse(config, [source], [val], args.reuse)
        result["teacher_continued_best_step"] = step
        timings["teacher_continued_train_s"] = time.perf_counter() - tic
        result["teacher_continued_test"] = evaluate_on(
            continued, root / "test", pairs["test"], identity, args.device
        )
    result["timings"] = timings
    return result


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample standard deviation over seeds of the headline numbers."""
    keys = {
        "pseudo-label mIoU, priors": ("pseudo_priors", "miou"),
        "pseudo-label mIoU, no priors": ("pseudo_no_priors", "miou"),
        "teacher test mIoU": ("teacher_test", "miou"),
        "teacher continued on the source, test mIoU": ("teacher_continued_test", "miou"),
        "student (prior pseudo-labels) test mIoU": ("student_priors_test", "miou"),
        "student (no-prior pseudo-labels) test mIoU": ("student_no_priors_test", "miou"),
    }
    summary = {}
    for title, (group, metric) in keys.items():
        values = [r[group][metric] for r in results if group in r]
        if values:
            summary[title] = _mean_std(values)
        conditions = sorted({c for r in results if group in r for c in r[group].get("by_condition", {})})
        for condition in conditions:
            values = [r[group]["by_condition"][condition] for r in results if group in r]
            summary[f"{title} [{condition}]"] = _mean_std(values)
    return summary


def _mean_std(values: list[float]) -> dict[str, Any]:
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return {"mean": float(np.mean(values)), "std": std, "values": values}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/mini-repro"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--data-seed", type=int, default=1234)
    parser.add_argument("--size", type=int, nargs=2, default=[64, 128], metavar=("H", "W"))
    parser.add_argument("--counts", type=int, nargs=4, default=[60, 300, 20, 100], metavar=SPLITS)
    parser.add_argument(
        "--source-conditions",
        nargs="+",
        default=["clear"],
        choices=CONDITIONS,
        help="scene conditions of the source set (default: clear only)",
    )
    parser.add_argument(
        "--other-conditions",
        nargs="+",
        default=list(CONDITIONS),
        choices=CONDITIONS,
        help="scene conditions of the extra, val and test sets, cycled (default: all four)",
    )
    parser.add_argument("--iterations", type=int, default=1500)
    parser.add_argument("--samples-per-epoch", type=int, default=400)
    parser.add_argument("--val-every", type=int, default=100)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--extra-weight", type=float, default=1.0)
    parser.add_argument(
        "--ablation", action="store_true", help="also train a student on no-prior pseudo-labels"
    )
    parser.add_argument(
        "--student-init",
        choices=("scratch", "teacher"),
        default="scratch",
        help="train students from a fresh model, or continue from the teacher's checkpoint (then a "
        "control, the teacher continued the same way on the source alone, is trained too)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse finished teacher/student runs under --out"
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    root = args.out / "data"
    rng = np.random.default_rng(args.data_seed)
    pairs = {
        name: write_split(
            root,
            name,
            n,
            rng,
            tuple(args.size),
            args.source_conditions if name == "source" else args.other_conditions,
        )
        for name, n in zip(SPLITS, args.counts, strict=True)
    }
    results = []
    for seed in args.seeds:
        results.append(run_seed(seed, root, args.out, pairs, args))
        log.info("seed %d: %s", seed, json.dumps(summarize(results[-1:]), indent=None))
        report = {
            "command": " ".join(sys.argv),
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "torch_threads": torch.get_num_threads(),
            "device": args.device,
            "summary": summarize(results),
            "per_seed": results,
            "wall_seconds": time.perf_counter() - started,
        }
        (args.out / "results.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report["summary"], indent=2))
    print(f"total wall time {report['wall_seconds']:.0f} s; details in {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
