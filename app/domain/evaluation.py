"""Evaluation results as tables (domain layer, pure): per-class rows, row-normalised confusion,
side-by-side comparison of several evaluations, and their CSV text.

An evaluate job stores (``worker.ml.evaluate.EvaluationResult.to_json``) ``metrics.per_class``
(id, name, IoU or ``None`` when the class is absent from truth and prediction, pixel counts) and
``confusion``: an ``N × (N+1)`` count matrix, rows = ground-truth class, columns = predicted class,
the last column = void (no class predicted). Everything here works from those two.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

VOID_NAME = "void"


@dataclass(frozen=True, slots=True)
class ClassScore:
    """One class of one evaluation; ``accuracy`` is the share of its true pixels predicted right."""

    id: int
    name: str
    iou: float | None
    gt_pixels: int
    pred_pixels: int
    accuracy: float | None


def class_scores(
    per_class: Sequence[Mapping[str, Any]], confusion: Sequence[Sequence[int]]
) -> list[ClassScore]:
    """Rows of ``metrics.per_class`` with the per-class accuracy read off the confusion diagonal."""
    out = []
    for i, c in enumerate(per_class):
        row = confusion[i] if i < len(confusion) else []
        total = sum(row)
        hit = row[i] if i < len(row) else 0
        out.append(
            ClassScore(
                id=int(c.get("id", i)),
                name=str(c.get("name", i)),
                iou=None if c.get("iou") is None else float(c["iou"]),
                gt_pixels=int(c.get("gt_pixels", total)),
                pred_pixels=int(c.get("pred_pixels", 0)),
                accuracy=hit / total if total else None,
            )
        )
    return out


def row_shares(confusion: Sequence[Sequence[int]]) -> list[list[float]]:
    """Each row divided by its sum (a row without pixels stays all zero)."""
    out = []
    for row in confusion:
        total = sum(row)
        out.append([count / total if total else 0.0 for count in row])
    return out


@dataclass(frozen=True, slots=True)
class ComparedClass:
    """One class across several evaluations: IoUs in order, differences to the first, the best one."""

    id: int
    name: str
    ious: tuple[float | None, ...]
    deltas: tuple[float | None, ...]  # ious[k] - ious[0]; None where either is absent (first: None)
    best: int | None  # index of the highest IoU when they differ, else None


def compare_classes(names: Sequence[str], ious: Sequence[Sequence[float | None]]) -> list[ComparedClass]:
    """Per-class rows of ``len(ious)`` evaluations of the same classes (``ious[k][class]``)."""
    rows = []
    for i, name in enumerate(names):
        values = tuple(run[i] if i < len(run) else None for run in ious)
        base = values[0] if values else None
        deltas = tuple(
            None if k == 0 or v is None or base is None else v - base for k, v in enumerate(values)
        )
        present = [(v, k) for k, v in enumerate(values) if v is not None]
        best = max(present)[1] if len(present) > 1 and len({v for v, _ in present}) > 1 else None
        rows.append(ComparedClass(i, name, values, deltas, best))
    return rows


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _text(rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def per_class_csv(scores: Sequence[ClassScore]) -> str:
    """``id,name,iou,accuracy,gt_pixels,pred_pixels``; an absent class has empty IoU/accuracy."""
    header = ("id", "name", "iou", "accuracy", "gt_pixels", "pred_pixels")
    body = [(s.id, s.name, _number(s.iou), _number(s.accuracy), s.gt_pixels, s.pred_pixels) for s in scores]
    return _text([header, *body])


def confusion_csv(names: Sequence[str], confusion: Sequence[Sequence[int]]) -> str:
    """Pixel counts with a header row of predicted classes (+ void) and the true class first."""
    header = ["truth \\ prediction", *names, VOID_NAME]
    body = [[names[i] if i < len(names) else str(i), *row] for i, row in enumerate(confusion)]
    return _text([header, *body])


def compare_csv(run_labels: Sequence[str], rows: Sequence[ComparedClass]) -> str:
    """``id,name`` then one IoU column per evaluation and one difference column per later one."""
    header = ["id", "name", *(f"iou {label}" for label in run_labels)]
    header += [f"delta {label}" for label in run_labels[1:]]
    body = [[r.id, r.name, *(_number(v) for v in r.ious), *(_number(d) for d in r.deltas[1:])] for r in rows]
    return _text([header, *body])
