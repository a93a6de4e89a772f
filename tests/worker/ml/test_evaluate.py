"""Evaluation: hand-computed confusion matrices, IoU conventions, mapped ground truth, full runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from app.domain.priors import CompiledPriors
from worker.ml.config import DataConfig, EvaluateConfig
from worker.ml.data import resolve_pairs
from worker.ml.evaluate import ConfusionMatrix, evaluate_dataset, metrics_from_confusion, target_ground_truth


def test_confusion_matrix_hand_computed() -> None:
    gt = torch.tensor([[0, 0, 1, 1], [2, 2, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 255, 0, 0]])
    cm = ConfusionMatrix(3)
    cm.update(pred, gt)
    # rows gt 0..2, columns pred 0..2 + void
    assert cm.matrix.tolist() == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 0, 1, 1]]
    m = cm.metrics(["a", "b", "c"])
    # IoU a = 1/(2+2-1)=1/3; b = 2/(3+3-2)=1/2; c = 1/(2+1-1)=1/2
    assert [c["iou"] for c in m["per_class"]] == pytest.approx([1 / 3, 1 / 2, 1 / 2])
    assert m["miou"] == pytest.approx((1 / 3 + 1 / 2 + 1 / 2) / 3)
    assert m["pixel_accuracy"] == pytest.approx(4 / 7)
    assert m["pixels"] == 7


def test_absent_classes_excluded_from_miou_but_zero_in_miou_all() -> None:
    matrix = np.array([[3, 1, 0], [0, 0, 0], [0, 0, 0]])
    m = metrics_from_confusion(matrix)
    # class 0: 3/(4+3-3)=0.75; class 1: predicted once, never in gt: 0/1 = 0; class 2 absent
    assert m["per_class"][2]["iou"] is None
    assert m["miou"] == pytest.approx((0.75 + 0.0) / 2)
    assert m["miou_all"] == pytest.approx(0.75 / 3)
    assert m["present_classes"] == 2


def test_accumulates_across_updates() -> None:
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 0]))
    cm.update(torch.tensor([1]), torch.tensor([1]))
    assert cm.matrix.tolist() == [[1, 1, 0], [0, 1, 0]]


def test_ground_truth_mapped_with_lut(compiled: CompiledPriors) -> None:
    values = np.array([[0, 1, 2, 3, 4, 5, 6, 7, -1]])
    # unlabeled->void, road->0, vehicle ambiguous->255, tree->2, sky->3,
    # thing unmapped, 6 unknown, grass ambiguous
    assert target_ground_truth(values, compiled, 4).tolist() == [[255, 0, 255, 2, 3, 255, 255, 255, 255]]
    assert target_ground_truth(np.array([[0, 3, 4, -1]]), None, 4).tolist() == [[0, 3, 255, 255]]


def test_evaluate_dataset_end_to_end(teacher, make_dataset, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=3)
    (root / "images/train/img001.png").write_bytes(b"junk")
    pairs = resolve_pairs(
        root, image_pattern="images/{split}/{stem}.png", label_template="labels/{split}/{stem}_labelids.png"
    ).pairs
    result = evaluate_dataset(
        EvaluateConfig(), teacher, pairs, DataConfig(root=root), priors=compiled, source=source
    )
    assert (result.evaluated, result.failed) == (2, 1)
    assert result.confusion.shape == (4, 5)
    assert 0.0 <= result.metrics["miou"] <= 1.0
    body = result.to_json()
    assert body["model"]["checksum"] == teacher.checksum and len(body["metrics"]["per_class"]) == 4
    assert result.metrics["pixels"] == int(result.confusion.sum())


def test_evaluate_rejects_mismatched_mapping(teacher, compiled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.domain.mapping import OntologyMapping
    from app.domain.priors import compile_priors
    from app.domain.taxonomy import Label, Taxonomy, class_list_taxonomy

    other = compile_priors(
        OntologyMapping(frozenset()), Taxonomy("s", (Label(0, "x"),)), class_list_taxonomy("t", [(0, "a")])
    )
    with pytest.raises(ValueError):
        evaluate_dataset(EvaluateConfig(), teacher, [], DataConfig(root=tmp_path), priors=other)


def test_evaluate_dataset_keeps_metrics_per_split(teacher, make_dataset, compiled, source) -> None:  # type: ignore[no-untyped-def]
    root = make_dataset(n=4)
    found = resolve_pairs(
        root, image_pattern="images/{split}/{stem}.png", label_template="labels/{split}/{stem}_labelids.png"
    ).pairs
    pairs = [replace(p, split="val") if i % 2 else p for i, p in enumerate(found)]  # 2 train, 2 val
    result = evaluate_dataset(
        EvaluateConfig(), teacher, pairs, DataConfig(root=root), priors=compiled, source=source
    )
    per_split = result.to_json()["per_split"]
    assert sorted(per_split) == ["train", "val"]
    assert [per_split[s]["images"] for s in ("train", "val")] == [2, 2]
    assert per_split["train"]["pixels"] + per_split["val"]["pixels"] == result.metrics["pixels"]
    assert len(per_split["val"]["iou"]) == 4 and 0.0 <= per_split["val"]["miou"] <= 1.0
    # the splits' confusion matrices add up to the whole one
    total_hits = sum(per_split[s]["pixel_accuracy"] * per_split[s]["pixels"] for s in per_split)
    assert total_hits == pytest.approx(result.metrics["pixel_accuracy"] * result.metrics["pixels"])
