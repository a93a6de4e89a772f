"""The training loop on CPU with the tiny model: steps, losses, void handling, checkpoints, resume."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers.models.mask2former.modeling_mask2former import Mask2FormerLoss

from app.domain.jobs import Progress
from worker.ml.checkpoints import load_model, save_checkpoint
from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config
from worker.ml.train import ArrayPairs, AugmentConfig, LabeledSet, TrainConfig, train
from worker.ml.train.model_setup import configure_loss, resize_class_head

NAMES = ("road", "car", "sky")
STILL = AugmentConfig(
    crop_size=(48, 64),
    scale_range=(1.0, 1.0),
    hflip_prob=0.0,
    brightness=0.0,
    contrast=0.0,
    saturation=0.0,
    hue=0.0,
    blur_prob=0.0,
    noise_prob=0.0,
)


def _scenes(count: int, seed: int, void_rows: int = 4) -> ArrayPairs:
    """Sky on top, road below, a car box; the first rows are void (255)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for _ in range(count):
        label = np.full((48, 64), 2, dtype=np.int64)
        label[20:] = 0
        x = int(rng.integers(5, 40))
        label[25:40, x : x + 16] = 1
        label[:void_rows] = 255
        palette = np.array([[70, 70, 70], [200, 30, 30], [120, 170, 240]], dtype=np.float64)
        image = palette[np.minimum(label, 2)] + rng.normal(0, 5, (48, 64, 3))
        images.append(np.clip(image, 0, 255).astype(np.uint8))
        labels.append(label)
    return ArrayPairs(images, labels)


def _config(tmp_path: Path, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "output_dir": tmp_path / "run",
        "class_names": NAMES,
        "max_iterations": 2,
        "batch_size": 2,
        "samples_per_epoch": 4,
        "log_every": 1,
        "augment": AugmentConfig(crop_size=(48, 64), scale_range=(0.8, 1.2)),
    }
    values.update(overrides)
    return TrainConfig(**values)


def _sets(void_rows: int = 4) -> tuple[list[LabeledSet], list[LabeledSet]]:
    train_set = LabeledSet("train", _scenes(4, 0, void_rows), kind="pseudo_labels")
    val_set = LabeledSet("val", _scenes(2, 1), kind="pseudo_labels")
    return [train_set], [val_set]


def test_one_iteration_reports_and_writes_everything(tmp_path: Path) -> None:
    progress: list[Progress] = []
    metrics: list[tuple[int, dict[str, Any]]] = []
    train_sets, val_sets = _sets()
    result = train(
        _config(tmp_path, max_iterations=1),
        train_sets,
        val_sets,
        on_progress=progress.append,
        on_metrics=lambda step, rec: metrics.append((step, rec)),
    )
    out = tmp_path / "run"
    assert result.final_step == 1 and result.stop_reason == "completed"
    assert [(p.current, p.total) for p in progress] == [(1, 1)]
    assert [rec["kind"] for _, rec in metrics] == ["train", "val"]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[1]["kind"] == "val" and 0.0 <= records[1]["val/miou"] <= 1.0
    assert {"val/val/miou", "train/loss"} <= set(records[0]) | set(records[1])
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert result.best_checkpoint == out / "checkpoints" / "best"
    loaded = load_model(result.model_checkpoint)
    assert loaded.class_names == NAMES
    assert loaded.provenance["training"]["train_sets"][0]["name"] == "train"
    assert json.loads((out / "result.json").read_text())["final_step"] == 1
    assert (out / "best_confusion.json").is_file()


def test_loss_decreases_on_a_fixed_batch(tmp_path: Path) -> None:
    fixed = LabeledSet("one", _scenes(1, 3), kind="pseudo_labels")  # every draw: the same crop
    config = _config(
        tmp_path,
        max_iterations=25,
        augment=STILL,
        warmup_iterations=0,
        lr=1e-3,
        encoder_lr=1e-3,
        step_milestones=(),
        checkpoint_every=100,
    )
    result = train(config, [fixed])
    losses = [h["train/loss"] for h in result.history]
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:3]), losses


def test_void_never_reaches_the_loss_as_a_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []
    original = Mask2FormerLoss.loss_labels

    def spy(self: Mask2FormerLoss, class_queries_logits: Any, class_labels: Any, indices: Any) -> Any:
        seen.extend(class_labels)  # exactly what the classification cross-entropy receives
        weights.append(self.empty_weight.detach().clone())
        return original(self, class_queries_logits, class_labels, indices)

    monkeypatch.setattr(Mask2FormerLoss, "loss_labels", spy)
    train_sets, _ = _sets(void_rows=30)  # most of the sky is void
    train(_config(tmp_path), train_sets)
    labels = torch.cat(seen)
    assert labels.numel() > 0 and int(labels.max()) < len(NAMES)
    assert 255 not in labels.tolist()
    assert weights[0].tolist() == pytest.approx([1.0, 1.0, 1.0, 0.005])


def _stop_after(steps: int) -> Callable[[], bool]:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > steps

    return should_stop


def _train_losses(run_dir: Path) -> list[float]:
    records = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return [r["train/loss"] for r in records if r["kind"] == "train"]


def test_resume_continues_exactly_where_a_stopped_run_left_off(tmp_path: Path) -> None:
    train_sets, val_sets = _sets()
    common = {"max_iterations": 4, "val_every": 2, "grad_accum_steps": 2}
    straight = train(_config(tmp_path / "a", **common), train_sets, val_sets)
    stopped = train(_config(tmp_path / "b", **common), train_sets, val_sets, should_stop=_stop_after(3))
    assert stopped.stop_reason == "stopped" and stopped.final_step == 3
    # debris of a crash during a later save: a half-written temp folder and an unreferenced folder
    checkpoints = tmp_path / "b" / "run" / "checkpoints"
    (checkpoints / ".step-000004.tmp" / "rng").mkdir(parents=True)
    (checkpoints / "step-000009").mkdir()
    resumed = train(_config(tmp_path / "b", **common), train_sets, val_sets)
    assert resumed.final_step == 4
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best", "best.json", "last.json", "step-000004"]
    a = load_file(straight.last_checkpoint / "model" / "model.safetensors")
    b = load_file(resumed.last_checkpoint / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    state_a = torch.load(straight.last_checkpoint / "training_state.pt", weights_only=True)
    state_b = torch.load(resumed.last_checkpoint / "training_state.pt", weights_only=True)
    exp_a = [s["exp_avg"] for s in state_a["optimizer"]["state"].values()]
    exp_b = [s["exp_avg"] for s in state_b["optimizer"]["state"].values()]
    assert all(torch.equal(x, y) for x, y in zip(exp_a, exp_b, strict=True))
    assert state_a["scheduler"]["last_epoch"] == state_b["scheduler"]["last_epoch"] == 4
    assert _train_losses(straight.output_dir) == _train_losses(resumed.output_dir)  # no duplicated iteration


def test_early_stopping_after_patience_validations_without_improvement(tmp_path: Path) -> None:
    train_sets, val_sets = _sets()
    config = _config(
        tmp_path, max_iterations=10, val_every=1, early_stopping_patience=2, lr=0.0, encoder_lr=0.0
    )
    result = train(config, train_sets, val_sets)
    assert result.stop_reason == "early_stopping"
    assert result.final_step == 3 and result.best_step == 1


def test_class_head_is_resized_by_name_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = build_mask2former(tiny_config(dict(enumerate(("sky", "road", "building")))))
    start = save_checkpoint(
        model,
        tmp_path / "start",
        class_names=("sky", "road", "building"),
        normalization=IMAGENET_NORMALIZATION,
    )
    loaded = load_model(start).model
    old_weight = loaded.class_predictor.weight.detach().clone()
    with caplog.at_level(logging.WARNING):
        assert resize_class_head(loaded, NAMES)
    assert "Resizing the class head" in caplog.text and "3 classes" in caplog.text
    new_weight = loaded.class_predictor.weight.detach()
    assert new_weight.shape[0] == len(NAMES) + 1
    assert torch.equal(new_weight[0], old_weight[1])  # road kept
    assert torch.equal(new_weight[2], old_weight[0])  # sky kept
    assert torch.equal(new_weight[3], old_weight[3])  # no-object kept
    configure_loss(loaded, no_object_weight=0.005)
    assert loaded.criterion.empty_weight.shape == (4,)
    assert not resize_class_head(loaded, NAMES)
    train_sets, _ = _sets()
    result = train(_config(tmp_path, max_iterations=1, start_model=str(start)), train_sets)
    assert load_model(result.model_checkpoint).class_names == NAMES


def test_bf16_mixed_precision_path_trains(tmp_path: Path) -> None:
    """The GPU default (bf16 autocast) exercised on CPU: matcher, loss and clipping work."""
    train_sets, val_sets = _sets()
    result = train(_config(tmp_path, mixed_precision="bf16", checkpoint_every=100), train_sets, val_sets)
    assert result.final_step == 2
    assert np.isfinite(result.history[-1]["train/loss"]) and np.isfinite(
        result.history[-1]["train/grad_norm"]
    )


def test_resume_refuses_a_run_of_other_classes(tmp_path: Path) -> None:
    train_sets, _ = _sets()
    train(_config(tmp_path, max_iterations=1), train_sets)
    with pytest.raises(ValueError, match="another output folder"):
        train(_config(tmp_path, max_iterations=2, class_names=("road", "car", "sky", "tree")), train_sets)


def test_paper_pth_start_model_needs_the_trust_flag_and_takes_a_normalisation_override(
    tmp_path: Path,
) -> None:
    """A paper checkpoint whose pickle holds more than a config is refused unless trusted (the
    registry's per-model flag reaches training); a registered normalisation override is used."""
    import argparse

    from worker.ml.checkpoints import UnsafeCheckpoint

    torch.manual_seed(0)
    model = build_mask2former(tiny_config(dict(enumerate(NAMES))))
    path = tmp_path / "paper.pth"
    payload = {"model_config": model.config, "model_state_dict": model.state_dict()}
    torch.save(payload | {"args": argparse.Namespace(lr=0.1)}, path)
    train_sets, _ = _sets()
    with pytest.raises(UnsafeCheckpoint):
        train(_config(tmp_path, max_iterations=1, start_model=str(path)), train_sets)
    config = _config(
        tmp_path,
        output_dir=tmp_path / "trusted",
        max_iterations=1,
        start_model=str(path),
        start_model_trust_pickle=True,
        start_model_mean=(1.0, 2.0, 3.0),
        start_model_std=(4.0, 5.0, 6.0),
    )
    result = train(config, train_sets)
    loaded = load_model(result.model_checkpoint)
    assert loaded.normalization.mean == (1.0, 2.0, 3.0) and loaded.normalization.std == (4.0, 5.0, 6.0)
