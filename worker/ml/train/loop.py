"""The student training loop: ``train(config, train_sets, val_sets, ...) -> TrainResult`` (worker.ml layer).

Runs on CPU, one GPU, or several processes launched by ``accelerate`` (one per GPU); the same code
path everywhere, as in accelerate's examples. The caller supplies callbacks for progress, metrics
and cooperative cancellation; nothing here knows about Celery or the database. The run's pieces
(accelerator, model, optimizer, schedule, resume, data loader) are built by :mod:`worker.ml.train.run`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from accelerate import Accelerator

from app.domain.jobs import Progress, ProgressCallback
from worker.ml.train.config import TrainConfig
from worker.ml.train.datasets import LabeledSet, TrainingMixture
from worker.ml.train.nonfinite import NonFiniteLoss, all_finite
from worker.ml.train.recorder import MetricsCallback
from worker.ml.train.run import Run, make_accelerator, make_loader, prepare_run
from worker.ml.train.state import (
    last_checkpoint,
    save_best_model,
    save_training_checkpoint,
    write_json_atomic,
)
from worker.ml.train.targets import batch_targets
from worker.ml.train.validate import ValidationResult, validate

logger = logging.getLogger(__name__)

__all__ = ["NonFiniteLoss", "TrainResult", "train"]

StopReason = Literal["completed", "early_stopping", "stopped"]


@dataclass(slots=True)
class TrainResult:
    """How a run ended and where its checkpoints are."""

    output_dir: Path
    final_step: int
    total_iterations: int
    stop_reason: StopReason
    last_checkpoint: Path
    best_checkpoint: Path | None  # None when there were no validation sets
    best_step: int | None
    best_metrics: dict[str, Any] | None
    last_validation: dict[str, Any] | None
    history: list[dict[str, float]] = field(default_factory=list)
    nonfinite_steps: int = 0  # iterations whose optimizer step was skipped (non-finite loss)

    @property
    def model_checkpoint(self) -> Path:
        """The checkpoint to register: the best one, or the last when nothing was validated."""
        return self.best_checkpoint or self.last_checkpoint / "model"


def train(
    config: TrainConfig,
    train_sets: Sequence[LabeledSet],
    val_sets: Sequence[LabeledSet] = (),
    *,
    on_progress: ProgressCallback | None = None,
    on_metrics: MetricsCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    accelerator: Accelerator | None = None,
) -> TrainResult:
    """Train a Mask2Former on the weighted mixture of ``train_sets``; validate on ``val_sets``.

    Resumes from ``config.output_dir``'s last checkpoint when ``config.resume`` is set. Returns
    when the iterations are done, early stopping triggers, or ``should_stop()`` turns True (the
    last checkpoint is saved first, so the run can be resumed).
    """
    accelerator = accelerator or make_accelerator(config)
    mixture = TrainingMixture(train_sets, config.augment, config.mixture)
    run = prepare_run(accelerator, config, mixture, val_sets, on_metrics)
    try:
        return _run_loop(run, mixture, on_progress, should_stop)
    finally:
        run.recorder.close()


def _run_loop(
    run: Run,
    mixture: TrainingMixture,
    on_progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
) -> TrainResult:
    config, acc, state = run.config, run.accelerator, run.state
    batches = make_loader(run, mixture)
    val_every = config.val_every or state.iterations_per_epoch
    stop_reason: StopReason = "completed"
    last_validation: ValidationResult | None = None
    window: list[dict[str, float]] = []
    history: list[dict[str, float]] = []
    tic = time.perf_counter()
    while state.step < state.total_iterations:
        if _stop_requested(acc, should_stop):
            stop_reason = "stopped"
            break
        window.append(train_step(run, batches))
        state.step += 1
        run.nonfinite.observe(state.step, skipped=bool(window[-1]["train/skipped"]))
        if state.step % config.log_every == 0 or state.step == state.total_iterations:
            summary = _log_train(run, window, time.perf_counter() - tic)
            history.append(summary)
            window, tic = [], time.perf_counter()
        if on_progress is not None and acc.is_main_process:
            # This step's own loss: before the first logging window there is no logged average yet.
            loss = (window[-1] if window else history[-1])["train/loss"]
            on_progress(Progress(state.step, state.total_iterations, _progress_text(run, loss)))
        validated = False
        if run.val_sets and (state.step % val_every == 0 or state.step == state.total_iterations):
            last_validation, validated = _validate_and_track(run), True
        if validated or state.step % (config.checkpoint_every or val_every) == 0:
            save_training_checkpoint(run.checkpoints, run.model, run.optimizer, run.scheduler, state)
        patience = config.early_stopping_patience
        if patience is not None and state.validations_without_improvement >= patience:
            stop_reason = "early_stopping"
            logger.info(
                "Early stopping at iteration %d: no improvement in %d validations", state.step, patience
            )
            break
    return _finish(run, stop_reason, last_validation, history)


def _progress_text(run: Run, loss: float) -> str:
    text = f"iteration {run.state.step}, loss {loss:.3f}"
    if run.nonfinite.total:
        text += f" ({run.nonfinite.total} step(s) skipped: non-finite loss)"
    return text


def train_step(run: Run, batches: Iterator[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """One optimizer step over ``grad_accum_steps`` micro-batches; returns scalars for logging.

    When the loss of any micro-batch on any process is not finite, the gradients are dropped and
    the optimizer step is skipped (``train/skipped`` = 1); the schedule still advances.
    """
    acc, config, model = run.accelerator, run.config, run.model
    num_classes = len(config.class_names)
    run.optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    finite = True
    for micro in range(config.grad_accum_steps):
        images, labels = next(batches)
        images = run.start.normalization.apply(images.to(acc.device, non_blocking=True))
        masks, classes = batch_targets(labels.to(acc.device, non_blocking=True), num_classes)
        # Gradients are all-reduced on the last micro-batch only.
        sync = nullcontext() if micro == config.grad_accum_steps - 1 else acc.no_sync(model)
        with sync, acc.autocast():
            outputs = model(pixel_values=images, mask_labels=masks, class_labels=classes)
            acc.backward(outputs.loss / config.grad_accum_steps)
        loss_sum += float(outputs.loss.detach())
        finite = all_finite(acc, outputs.loss.detach()) and finite
    lrs = {f"lr/{g.get('name', i)}": float(g["lr"]) for i, g in enumerate(run.optimizer.param_groups)}
    if not finite:
        run.optimizer.zero_grad(set_to_none=True)
        run.scheduler.step()
        return {"train/loss": float("nan"), "train/grad_norm": float("nan"), "train/skipped": 1.0, **lrs}
    grad_norm = float("nan")
    if config.grad_clip_norm is not None:
        # Unscales first under fp16 (AMP-correct); clips the full, all-reduced gradient.
        grad_norm = float(acc.clip_grad_norm_(model.parameters(), config.grad_clip_norm))
    run.optimizer.step()
    run.scheduler.step()  # once per optimizer step, whatever the number of processes
    loss = loss_sum / config.grad_accum_steps
    return {"train/loss": loss, "train/grad_norm": grad_norm, "train/skipped": 0.0, **lrs}


def _log_train(run: Run, window: list[dict[str, float]], seconds: float) -> dict[str, float]:
    acc, config = run.accelerator, run.config
    losses = [w["train/loss"] for w in window if math.isfinite(w["train/loss"])]
    local = torch.tensor([sum(losses) / len(losses) if losses else float("nan")], device=acc.device)
    summary = {k: v for k, v in window[-1].items() if k.startswith("lr/")}
    summary["train/loss"] = float(acc.reduce(local, reduction="mean"))
    summary["train/skipped_steps"] = float(sum(w.get("train/skipped", 0.0) for w in window))
    summary["train/nonfinite_steps_total"] = float(run.nonfinite.total)
    norms = [w["train/grad_norm"] for w in window if math.isfinite(w["train/grad_norm"])]
    summary["train/grad_norm"] = sum(norms) / len(norms) if norms else float("nan")
    images = len(window) * config.batch_size * config.grad_accum_steps * acc.num_processes
    summary["train/images_per_second"] = images / max(seconds, 1e-9)
    summary["epoch"] = run.state.step / run.state.iterations_per_epoch
    run.recorder.record(run.state.step, "train", summary)
    return summary


def _validate_and_track(run: Run) -> ValidationResult:
    """Validate, record, and keep the best checkpoint by ``config.fitness``."""
    state, config = run.state, run.config
    model = run.accelerator.unwrap_model(run.model)
    result = validate(run.accelerator, model, run.val_sets, run.start.normalization, config.class_names)
    fitness = _fitness(result, config.fitness)
    improved = state.best_fitness is None or fitness > state.best_fitness
    values = {**result.flat(), "val/fitness": fitness, "val/improved": improved}
    run.recorder.record(state.step, "val", {**values, "per_set": result.per_set, "pooled": result.pooled})
    if improved:
        state.best_fitness, state.best_step = fitness, state.step
        state.validations_without_improvement = 0
        save_best_model(run.checkpoints, run.model, state.step, _summary(result))
        _save_confusion(run, result)
    else:
        state.validations_without_improvement += 1
    return result


def _fitness(result: ValidationResult, fitness: str) -> float:
    if fitness == "neg_loss":
        return -float(result.pooled["loss"])
    if fitness == "paper":  # the reference's train.py: 0.8 mIoU + 0.2 pixel accuracy
        return 0.8 * float(result.pooled["miou"]) + 0.2 * float(result.pooled["pixel_accuracy"])
    return float(result.pooled[fitness])


def _summary(result: ValidationResult) -> dict[str, Any]:
    return {"pooled": result.pooled, "per_set": result.per_set}


def _save_confusion(run: Run, result: ValidationResult) -> None:
    if run.accelerator.is_main_process:
        confusion = {name: matrix.tolist() for name, matrix in result.confusion.items()}
        path = run.config.output_dir / "best_confusion.json"
        write_json_atomic(
            path, {"step": run.state.step, "class_names": list(run.config.class_names), **confusion}
        )


def _stop_requested(acc: Accelerator, should_stop: Callable[[], bool] | None) -> bool:
    """``should_stop()`` of the main process, agreed on by every process."""
    local = bool(should_stop()) if should_stop is not None and acc.is_main_process else False
    if acc.num_processes == 1:
        return local
    flag = acc.reduce(torch.tensor([float(local)], device=acc.device), reduction="sum")
    return bool(flag.item() > 0)


def _finish(
    run: Run,
    stop_reason: StopReason,
    last_validation: ValidationResult | None,
    history: list[dict[str, float]],
) -> TrainResult:
    state, root = run.state, run.checkpoints.root
    last = last_checkpoint(root)
    if last is None or not last.name.endswith(f"{state.step:06d}"):
        last = save_training_checkpoint(run.checkpoints, run.model, run.optimizer, run.scheduler, state)
    best = root / "best" if state.best_step is not None else None
    best_metrics = None
    if best is not None and (root / "best.json").is_file():
        best_metrics = json.loads((root / "best.json").read_text())["metrics"]
    result = TrainResult(
        output_dir=run.config.output_dir,
        final_step=state.step,
        total_iterations=state.total_iterations,
        stop_reason=stop_reason,
        last_checkpoint=last,
        best_checkpoint=best,
        best_step=state.best_step,
        best_metrics=best_metrics,
        last_validation=_summary(last_validation) if last_validation else None,
        history=history,
        nonfinite_steps=run.nonfinite.total,
    )
    if run.accelerator.is_main_process:
        write_json_atomic(run.config.output_dir / "result.json", _result_json(result))
    return result


def _result_json(result: TrainResult) -> dict[str, Any]:
    return {
        "final_step": result.final_step,
        "total_iterations": result.total_iterations,
        "stop_reason": result.stop_reason,
        "last_checkpoint": str(result.last_checkpoint),
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "model_checkpoint": str(result.model_checkpoint),
        "best_step": result.best_step,
        "best_metrics": result.best_metrics,
        "nonfinite_steps": result.nonfinite_steps,
    }
