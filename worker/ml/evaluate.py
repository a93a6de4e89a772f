"""Semantic-segmentation evaluation: confusion matrix on the device, IoU, mIoU, pixel accuracy (worker.ml).

Conventions: ground-truth pixels equal to ``ignore_index`` (255) are skipped; a prediction of void
(255) on a valid pixel counts as a miss for that ground-truth class. ``miou`` averages the classes
present in the ground truth or the prediction (absent from both = excluded); ``miou_all`` averages
all N classes with absent ones counted as 0. Evaluation runs at the native label resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from app.domain.jobs import Progress, ProgressCallback
from app.domain.pairing import Pair
from app.domain.priors import CompiledPriors
from app.domain.taxonomy import Taxonomy
from worker.ml.banded import argmax_labels
from worker.ml.checkpoints import LoadedModel
from worker.ml.config import DataConfig, EvaluateConfig
from worker.ml.data import PairDataset, iterate_batches, size_batches, stack_images
from worker.ml.outputs import add_view_runs
from worker.ml.provenance import run_provenance
from worker.ml.tta import predict_score_maps, tta_views


class ConfusionMatrix:
    """``(N, N+1)`` int64 counts on a device: rows = ground truth class, columns = prediction (N = void)."""

    def __init__(self, num_classes: int, device: str | torch.device = "cpu", ignore_index: int = 255) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros((num_classes, num_classes + 1), dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Accumulate one batch by a single ``bincount``.

        Args:
            pred: ``(...)`` int predictions, 0..N-1 or ``ignore_index`` (void).
            target: ``(...)`` int ground truth of the same shape; ``ignore_index`` pixels are skipped.
        """
        n = self.num_classes
        target = target.reshape(-1).to(self.matrix.device, torch.int64)
        pred = pred.reshape(-1).to(self.matrix.device, torch.int64)
        valid = (target >= 0) & (target < n)
        pred = torch.where((pred >= 0) & (pred < n), pred, torch.full_like(pred, n))
        flat = target[valid] * (n + 1) + pred[valid]
        self.matrix += torch.bincount(flat, minlength=n * (n + 1)).reshape(n, n + 1)

    def metrics(self, class_names: Sequence[str] | None = None) -> dict[str, Any]:
        return metrics_from_confusion(self.matrix.cpu().numpy(), class_names)


def metrics_from_confusion(matrix: np.ndarray, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """IoU per class, mIoU (present classes), mIoU over all classes, pixel accuracy.

    Args:
        matrix: ``(N, N)`` or ``(N, N+1)`` counts, rows = ground truth, columns = prediction.
    """
    m = np.asarray(matrix, dtype=np.float64)
    n = m.shape[0]
    tp = np.diag(m[:, :n])
    gt = m.sum(axis=1)
    pred = m[:, :n].sum(axis=0)
    union = gt + pred - tp
    present = union > 0
    iou = np.where(present, tp / np.where(present, union, 1), np.nan)
    total = gt.sum()
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    return {
        "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
        "miou": float(np.nanmean(iou)) if present.any() else 0.0,
        "miou_all": float(np.nan_to_num(iou, nan=0.0).mean()) if n else 0.0,
        "present_classes": int(present.sum()),
        "num_classes": n,
        "pixels": int(total),
        "per_class": [
            {
                "id": i,
                "name": names[i],
                "iou": None if np.isnan(iou[i]) else float(iou[i]),
                "gt_pixels": int(gt[i]),
                "pred_pixels": int(pred[i]),
            }
            for i in range(n)
        ],
        "convention": "miou: mean over classes present in ground truth or prediction; "
        "miou_all: mean over all classes, absent = 0; ground truth 255 ignored",
    }


@dataclass(slots=True)
class EvaluationResult:
    metrics: dict[str, Any]
    confusion: np.ndarray
    evaluated: int = 0
    failed: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)
    per_split: dict[str, dict[str, Any]] = field(default_factory=dict)  # headline metrics per split

    def to_json(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "confusion": self.confusion.tolist(),
            "per_split": self.per_split,
            "evaluated": self.evaluated,
            "failed": self.failed,
            "errors": self.errors[:1000],
            "seconds": self.seconds,
            **self.provenance,
        }


class SplitConfusions:
    """One confusion matrix per split of the evaluated images (splits named by their pairs)."""

    def __init__(self, num_classes: int, device: torch.device, ignore_index: int) -> None:
        self.args = (num_classes, device, ignore_index)
        self.matrices: dict[str, ConfusionMatrix] = {}
        self.images: dict[str, int] = {}

    def update(self, splits: Sequence[str | None], pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add ``pred``/``target`` ``(B, H, W)`` image by image to the matrix of its split."""
        for name in {s for s in splits if s is not None}:
            index = torch.tensor([i for i, s in enumerate(splits) if s == name], device=pred.device)
            cm = self.matrices.setdefault(name, ConfusionMatrix(*self.args))
            cm.update(pred.index_select(0, index), target.to(pred.device).index_select(0, index))
            self.images[name] = self.images.get(name, 0) + len(index)

    def metrics(self, class_names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per split: images, pixels, mIoU (present and all), pixel accuracy and the per-class IoU."""
        out = {}
        for name in sorted(self.matrices):
            m = self.matrices[name].metrics(class_names)
            keys = ("miou", "miou_all", "pixel_accuracy", "pixels")
            out[name] = {"images": self.images[name], **{k: m[k] for k in keys}}
            out[name]["iou"] = [c["iou"] for c in m["per_class"]]
        return out


def target_ground_truth(values: np.ndarray, priors: CompiledPriors | None, num_classes: int) -> np.ndarray:
    """``(H, W)`` source values -> target ids (ambiguous/void/unknown -> 255) with the lookup table.

    Without priors the labels are already in the target taxonomy; values >= N become 255.
    """
    if priors is not None:
        return priors.hard_map(values).astype(np.int64)
    v = values.astype(np.int64)
    return np.where((v >= 0) & (v < num_classes), v, 255)


def evaluate_dataset(
    config: EvaluateConfig,
    teacher: LoadedModel,
    pairs: Sequence[Pair],
    data: DataConfig,
    *,
    priors: CompiledPriors | None = None,
    source: Taxonomy | None = None,
    mapping_hash: str | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluationResult:
    """Evaluate the teacher's plain argmax on ``pairs`` against their (mapped) ground truth."""
    started = time.perf_counter()
    inf = config.inference
    device = torch.device(inf.device)
    n = teacher.num_classes
    if priors is not None and priors.num_classes != n:
        raise ValueError(f"the mapping has {priors.num_classes} target classes, the model {n}")
    dataset = PairDataset(
        data.root,
        pairs,
        encoding=data.label_encoding,
        colors=source.colors if source else None,
        palette=data.label_palette,
        labels_root=data.labels_root,
    )
    batches, header_errors = size_batches(data.root, dataset.pairs, inf.batch_size, inf.batch_pixels)
    cm = ConfusionMatrix(n, device, config.ignore_index)
    by_split = SplitConfusions(n, device, config.ignore_index)
    views = tta_views(inf.tta, inf.scales, inf.flip)
    result = EvaluationResult(metrics={}, confusion=np.zeros((n, n + 1), dtype=np.int64))
    view_runs: dict[str, dict[str, int]] = {}  # images per view and how it ran
    for i, msg in header_errors.items():
        result.failed += 1
        result.errors.append({"image": dataset.pairs[i].image, "error": msg})
    done = result.failed
    for samples in iterate_batches(dataset, batches, data.num_workers):
        if should_stop is not None and should_stop():
            break
        good = [s for s in samples if s.error is None and s.values is not None]
        for s in samples:
            if s.error is not None or s.values is None:
                result.failed += 1
                result.errors.append({"image": s.pair.image, "error": s.error or "no ground truth"})
        if good:
            images = stack_images(good, device)
            maps = predict_score_maps(teacher.model, images, teacher.normalization, views, inf.windows)
            pred = argmax_labels(maps, n)
            for _ in good:
                add_view_runs(view_runs, (r.to_json() for r in maps.runs))
            gt = np.stack([target_ground_truth(s.values, priors, n) for s in good])  # type: ignore[arg-type]
            cm.update(pred, torch.from_numpy(gt))
            by_split.update([s.pair.split for s in good], pred, torch.from_numpy(gt))
            result.evaluated += len(good)
        done += len(samples)
        if on_progress is not None:
            on_progress(Progress(done, len(pairs), f"evaluated {done}/{len(pairs)}"))
    result.confusion = cm.matrix.cpu().numpy()
    result.metrics = metrics_from_confusion(result.confusion, teacher.class_names)
    result.per_split = by_split.metrics(teacher.class_names)
    result.seconds = time.perf_counter() - started
    result.provenance = run_provenance(teacher, inf, views, mapping_hash=mapping_hash) | {
        "tta_view_runs": view_runs
    }
    return result
