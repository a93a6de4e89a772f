"""The pieces of one training run (worker.ml layer): the accelerator, the start model, optimizer and
learning-rate schedule (resumed from the last checkpoint when asked), checkpoints, the metrics recorder,
and the data loader of the weighted mixture. :mod:`worker.ml.train.loop` runs them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs, PartialState
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import set_seed
from torch.utils.data import DataLoader

from worker.ml.train.config import TrainConfig
from worker.ml.train.datasets import LabeledSet, TrainingMixture, collate_crops
from worker.ml.train.model_setup import StartModel, build_start_model, parameter_groups
from worker.ml.train.nonfinite import NonFiniteGuard
from worker.ml.train.recorder import MetricsCallback, MetricsRecorder
from worker.ml.train.sampling import WeightedStreamSampler, micro_batches_per_epoch
from worker.ml.train.schedule import Schedule, make_scheduler, schedule_from_config
from worker.ml.train.state import (
    CheckpointContext,
    TrainerState,
    last_checkpoint,
    load_training_checkpoint,
    write_json_atomic,
)

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Run:
    """The pieces of one run, prepared by accelerate."""

    accelerator: Accelerator
    config: TrainConfig
    start: StartModel
    model: torch.nn.Module
    optimizer: Any
    scheduler: torch.optim.lr_scheduler.LambdaLR
    schedule: Schedule
    state: TrainerState
    checkpoints: CheckpointContext
    recorder: MetricsRecorder
    val_sets: Sequence[LabeledSet]
    nonfinite: NonFiniteGuard  # built from config.max_nonfinite_steps


def make_accelerator(config: TrainConfig) -> Accelerator:
    """bf16 autocast on CUDA unless told otherwise; plain fp32 on CPU."""
    precision = config.mixed_precision
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_available() and not config.cpu else "no"
    kwargs = DistributedDataParallelKwargs(find_unused_parameters=config.find_unused_parameters)
    _fresh_accelerator_state()
    return Accelerator(mixed_precision=precision, cpu=config.cpu, kwargs_handlers=[kwargs])


def _fresh_accelerator_state() -> None:
    """Forget the settings of an earlier run in this process.

    accelerate keeps its state in process-wide singletons and refuses a second ``Accelerator`` with
    another precision or device. A long-lived worker runs many trainings, so each run starts afresh.
    A distributed launch keeps its process group (``PartialState``).
    """
    distributed = bool(PartialState._shared_state) and PartialState().num_processes > 1
    AcceleratorState._reset_state(reset_partial_state=not distributed)
    GradientState._reset_state()


def plan_iterations(config: TrainConfig, dataset_size: int, world_size: int) -> tuple[int, int, int]:
    """(micro-batches per process per epoch, iterations per epoch, total iterations)."""
    samples = config.samples_per_epoch or dataset_size
    micro = micro_batches_per_epoch(samples, config.batch_size, world_size)
    per_epoch = max(1, math.ceil(micro / config.grad_accum_steps))
    total = config.max_iterations if config.max_iterations is not None else config.epochs * per_epoch
    return micro, per_epoch, total


def prepare_run(
    accelerator: Accelerator,
    config: TrainConfig,
    mixture: TrainingMixture,
    val_sets: Sequence[LabeledSet],
    on_metrics: MetricsCallback | None,
) -> Run:
    set_seed(config.seed, device_specific=True)
    start = build_start_model(config)
    _, per_epoch, total = plan_iterations(config, len(mixture), accelerator.num_processes)
    optimizer = torch.optim.AdamW(parameter_groups(start.model, config), betas=config.betas)
    state = TrainerState(total_iterations=total, iterations_per_epoch=per_epoch)
    schedule = schedule_from_config(config, total, per_epoch)
    scheduler = make_scheduler(optimizer, schedule)
    model, optimizer = accelerator.prepare(start.model, optimizer)
    root = config.output_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    provenance = {"training": _provenance(config, mixture, val_sets), "start": start.origin}
    ctx = CheckpointContext(accelerator, root, config.class_names, start.normalization, provenance)
    resume_from = last_checkpoint(root) if config.resume else None
    if resume_from is not None:
        state = load_training_checkpoint(
            resume_from, accelerator, model, optimizer, scheduler, config.class_names
        )
        schedule = schedule_from_config(config, state.total_iterations, state.iterations_per_epoch)
        scheduler.lr_lambdas = [schedule.factor] * len(scheduler.lr_lambdas)
        logger.info("Resuming from %s at iteration %d/%d", resume_from, state.step, state.total_iterations)
    if accelerator.is_main_process:
        write_json_atomic(config.output_dir / "config.json", config.to_json())
    recorder = MetricsRecorder(
        config.output_dir, enabled=accelerator.is_main_process, on_metrics=on_metrics, resume_step=state.step
    )
    guard = NonFiniteGuard(config.max_nonfinite_steps)
    return Run(
        accelerator,
        config,
        start,
        model,
        optimizer,
        scheduler,
        schedule,
        state,
        ctx,
        recorder,
        val_sets,
        guard,
    )


def _provenance(
    config: TrainConfig, mixture: TrainingMixture, val_sets: Sequence[LabeledSet]
) -> dict[str, Any]:
    return {
        "class_names": list(config.class_names),
        "train_sets": [
            {"name": s.name, "kind": s.kind, "weight": s.weight, "size": len(s), **s.provenance}
            for s in mixture.sets
        ],
        "val_sets": [{"name": s.name, "size": len(s), **s.provenance} for s in val_sets],
        "recipe": config.to_json(),
    }


def make_loader(run: Run, mixture: TrainingMixture) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    config, acc = run.config, run.accelerator
    micro, _, _ = plan_iterations(config, len(mixture), acc.num_processes)
    sampler = WeightedStreamSampler(
        mixture.mixture,
        micro_batch_size=config.batch_size,
        micro_batches_per_epoch=micro,
        seed=config.seed,
        rank=acc.process_index,
        world_size=acc.num_processes,
        start_micro_batch=run.state.step * config.grad_accum_steps,
    )
    loader = DataLoader(
        mixture,
        batch_size=config.batch_size,
        sampler=sampler,
        collate_fn=collate_crops,
        num_workers=config.num_workers,
        pin_memory=acc.device.type == "cuda",
        persistent_workers=config.num_workers > 0,
        # Its own generator: creating the iterator must not consume the global RNG (exact resume).
        generator=torch.Generator().manual_seed(config.seed),
    )
    return iter(loader)
