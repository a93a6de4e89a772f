"""Training throughput ratio: samples/s of ``train()`` ÷ samples/s of a bare loop (issue 13).

Both sides use the same model (a fresh tiny Mask2Former, or ``--start-model``), the same crop
size and the same batch. The bare loop runs forward + backward + AdamW step on batches prepared
in advance (no data loading, augmentation, logging, scheduler or checkpoints). The ``train()``
side runs the library on the demo images with the ``quick`` preset's augmentation, no validation
and one checkpoint at the end; its rate is taken from the iterations after the first logging
window (warm-up excluded), from ``train/images_per_second`` in ``metrics.jsonl``.

    .venv/bin/python benchmarks/bench_train_throughput.py --iterations 40 --crop 96 128 --batch 4
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from app.schemas.training import TrainRecipe
from worker.demo import TARGET, make_dataset
from worker.ml.modeling import build_mask2former, tiny_config
from worker.ml.train import LabeledSet, TrainConfig, train
from worker.ml.train.datasets import ArrayPairs
from worker.ml.train.model_setup import configure_loss, parameter_groups
from worker.ml.train.targets import batch_targets


def _demo_set(root: Path) -> LabeledSet:
    from PIL import Image

    make_dataset(root, count=24)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((root / "images").rglob("*.png"))]
    paths = sorted((root / "labels").rglob("*.png"))
    labels = [np.asarray(Image.open(p)).astype(np.int64) % 4 for p in paths]  # four classes, as the target
    return LabeledSet("demo", ArrayPairs(images, labels), kind="pseudo_labels")


def library_rate(out: Path, data: LabeledSet, iterations: int, crop: tuple[int, int], batch: int) -> float:
    values = TrainRecipe(preset="quick").config_values()
    window = max(1, iterations // 4)
    values.update(
        output_dir=str(out), class_names=list(TARGET.names), max_iterations=iterations, batch_size=batch,
        log_every=window, val_every=None, checkpoint_every=iterations, cpu=True, resume=False, seed=0,
    )  # fmt: skip
    values["augment"]["crop_size"] = list(crop)
    train(TrainConfig.from_json(values), [data])
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["train/images_per_second"] for r in records if r["kind"] == "train"][1:]
    return float(np.mean(rates))


def bare_rate(iterations: int, crop: tuple[int, int], batch: int) -> float:
    torch.manual_seed(0)
    model = build_mask2former(tiny_config(TARGET.id2label()))
    configure_loss(model, no_object_weight=0.005)
    config = TrainConfig(output_dir=Path("."), class_names=TARGET.names)
    optimizer = torch.optim.AdamW(parameter_groups(model, config))
    model.train()
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.uniform(0, 1, (batch, 3, *crop)).astype(np.float32))
    labels = torch.from_numpy(rng.integers(0, 4, (batch, *crop)))
    masks, classes = batch_targets(labels, len(TARGET.names))
    warmup = max(1, iterations // 4)
    for i in range(iterations + warmup):
        if i == warmup:
            tic = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model(pixel_values=images, mask_labels=masks, class_labels=classes).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return iterations * batch / (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--crop", type=int, nargs=2, default=(96, 128))
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    crop = (int(args.crop[0]), int(args.crop[1]))
    with tempfile.TemporaryDirectory() as tmp:
        data = _demo_set(Path(tmp) / "demo")
        # Bare loop before and after, averaged: a shared machine's load drifts during the run.
        before = bare_rate(args.iterations, crop, args.batch)
        lib = library_rate(Path(tmp) / "run", data, args.iterations, crop, args.batch)
        after = bare_rate(args.iterations, crop, args.batch)
        bare = (before + after) / 2
    print(json.dumps({"bare_before": round(before, 3), "bare_after": round(after, 3),
                      "bare_samples_per_s": round(bare, 3), "train_samples_per_s": round(lib, 3),
                      "ratio": round(lib / bare, 3), "crop": crop, "batch": args.batch,
                      "iterations": args.iterations, "device": "cpu"}))  # fmt: skip


if __name__ == "__main__":
    main()
