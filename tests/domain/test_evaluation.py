"""Evaluation tables (pure): per-class accuracy from the confusion diagonal, row shares, the
class-by-class comparison (differences to the first, the best one) and the CSV text."""

from __future__ import annotations

import csv
import io

import pytest

from app.domain.evaluation import (
    class_scores,
    compare_classes,
    compare_csv,
    confusion_csv,
    per_class_csv,
    row_shares,
)

CONF = [[8, 1, 1], [0, 0, 0]]  # 2 classes + void; class 1 never true


def _per_class() -> list[dict[str, object]]:
    return [
        {"id": 0, "name": "road", "iou": 8 / 10, "gt_pixels": 10, "pred_pixels": 8},
        {"id": 1, "name": "car", "iou": 0.0, "gt_pixels": 0, "pred_pixels": 1},
    ]


def test_class_scores_read_accuracy_off_the_diagonal() -> None:
    road, car = class_scores(_per_class(), CONF)
    assert road.accuracy == pytest.approx(0.8) and road.iou == pytest.approx(0.8)
    assert car.accuracy is None and car.iou == 0.0  # no true pixels: no accuracy


def test_row_shares_leave_empty_rows_at_zero() -> None:
    assert row_shares(CONF) == [[0.8, 0.1, 0.1], [0.0, 0.0, 0.0]]


def test_compare_gives_differences_to_the_first_and_the_best() -> None:
    rows = compare_classes(["road", "car", "sky"], [[0.5, None, 0.7], [0.6, 0.2, 0.7], [0.4, 0.1, None]])
    road, car, sky = rows
    assert road.deltas[0] is None and road.deltas[1] == pytest.approx(0.1) and road.best == 1
    assert car.deltas == (None, None, None) and car.best == 1  # absent in the baseline: no difference
    assert sky.best is None  # a tie is no winner
    assert compare_classes(["x"], [[None], [0.3]])[0].best is None  # one value: nothing to compare


def test_csv_text() -> None:
    rows = list(csv.reader(io.StringIO(per_class_csv(class_scores(_per_class(), CONF)))))
    assert rows == [
        ["id", "name", "iou", "accuracy", "gt_pixels", "pred_pixels"],
        ["0", "road", "0.800000", "0.800000", "10", "8"],
        ["1", "car", "0.000000", "", "0", "1"],
    ]
    assert confusion_csv(["road", "car"], CONF).splitlines() == [
        "truth \\ prediction,road,car,void",
        "road,8,1,1",
        "car,0,0,0",
    ]
    text = compare_csv(["a (#1)", "b, new (#2)"], compare_classes(["road"], [[0.5], [0.75]]))
    assert list(csv.reader(io.StringIO(text))) == [
        ["id", "name", "iou a (#1)", "iou b, new (#2)", "delta b, new (#2)"],
        ["0", "road", "0.500000", "0.750000", "0.250000"],
    ]
