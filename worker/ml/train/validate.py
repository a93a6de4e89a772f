"""Validation during training: per-set and pooled confusion matrices, mIoU and loss (worker.ml layer).

Each process evaluates every ``P``-th image of every validation set at native resolution. The
confusion matrices (and loss sums) are then *summed* across processes with
``accelerator.reduce(..., "sum")`` -- never averaged -- so the metrics equal those of a single
process seeing every image once. To keep the collective calls inside Mask2Former's loss in step,
every process runs the same number of forward passes; padding passes are discarded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from transformers import Mask2FormerForUniversalSegmentation

from worker.ml.evaluate import ConfusionMatrix, metrics_from_confusion
from worker.ml.modeling import Normalization, class_scores
from worker.ml.train.datasets import LabeledSet
from worker.ml.train.targets import batch_targets


@dataclass(slots=True)
class ValidationResult:
    """Metrics per validation set and pooled over all of them, plus the summed confusion matrices."""

    per_set: dict[str, dict[str, Any]]
    pooled: dict[str, Any]
    confusion: dict[str, np.ndarray]  # set name (and "pooled") -> (N, N+1) int64, rows = truth

    def flat(self) -> dict[str, float]:
        """Scalars for logs and plots: ``val/<set>/<metric>`` and ``val/<metric>`` (pooled)."""
        keys = ("miou", "miou_all", "pixel_accuracy", "loss")
        out = {f"val/{k}": float(self.pooled[k]) for k in keys}
        for name, metrics in self.per_set.items():
            out.update({f"val/{name}/{k}": float(metrics[k]) for k in keys})
        for entry in self.pooled["per_class"]:
            if entry["iou"] is not None:
                out[f"val_iou/{entry['name']}"] = float(entry["iou"])
        return out


@torch.no_grad()
def validate(
    accelerator: Accelerator,
    model: Mask2FormerForUniversalSegmentation,
    val_sets: Sequence[LabeledSet],
    normalization: Normalization,
    class_names: Sequence[str],
) -> ValidationResult:
    """Evaluate ``model`` (unwrapped) on every set; identical results on every process.

    Predictions are the argmax of the N real class scores at the label's native resolution;
    metric conventions are those of :func:`worker.ml.evaluate.metrics_from_confusion`.
    """
    num_classes = len(class_names)
    was_training = model.training
    model.train(False)
    device = accelerator.device
    rank, world = accelerator.process_index, accelerator.num_processes
    counters = [ConfusionMatrix(num_classes, device) for _ in val_sets]
    losses = torch.zeros(len(val_sets), 2, dtype=torch.float64, device=device)  # (loss sum, count)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)  # the loss samples random points; keep validation deterministic
        for set_id, val_set in enumerate(val_sets):
            for k in range(math.ceil(len(val_set) / world)):
                index = rank + k * world
                real = index < len(val_set)
                image, label = val_set.pair(index if real else index % len(val_set))
                image, label = image[None].to(device), label[None].to(device)
                masks, classes = batch_targets(label, num_classes)
                with accelerator.autocast():
                    outputs = model(
                        pixel_values=normalization.apply(image), mask_labels=masks, class_labels=classes
                    )
                if not real:
                    continue
                size = (int(label.shape[-2]), int(label.shape[-1]))
                prediction = class_scores(outputs, size=size)[:, :num_classes].argmax(1)
                counters[set_id].update(prediction, label)
                losses[set_id] += torch.stack([outputs.loss.detach().double(), losses.new_tensor(1.0)])
    matrices = torch.stack([c.matrix for c in counters]) if counters else torch.zeros(0, device=device)
    matrices = accelerator.reduce(matrices, reduction="sum")
    losses = accelerator.reduce(losses, reduction="sum")
    model.train(was_training)
    return _result(val_sets, class_names, matrices.cpu().numpy(), losses.cpu().numpy())


def _result(
    val_sets: Sequence[LabeledSet], class_names: Sequence[str], matrices: np.ndarray, losses: np.ndarray
) -> ValidationResult:
    per_set, confusion = {}, {}
    for set_id, val_set in enumerate(val_sets):
        metrics = metrics_from_confusion(matrices[set_id], class_names)
        metrics["loss"] = float(losses[set_id, 0] / max(losses[set_id, 1], 1.0))
        per_set[val_set.name] = metrics
        confusion[val_set.name] = matrices[set_id]
    pooled = metrics_from_confusion(matrices.sum(axis=0), class_names)
    pooled["loss"] = float(losses[:, 0].sum() / max(losses[:, 1].sum(), 1.0))
    confusion["pooled"] = matrices.sum(axis=0)
    return ValidationResult(per_set=per_set, pooled=pooled, confusion=confusion)
