"""Learning-rate schedules as pure functions of the optimizer step (worker.ml layer).

Every schedule starts with a linear warm-up (by default one epoch) and then decays:

* ``step``: the paper's recipe, x ``gamma`` at each milestone (default x0.1 at 90 % and 95 % of the
  total iterations);
* ``poly``: ``(1 - t) ** power`` with ``t`` the post-warm-up progress, floored at ``min_factor``;
* ``cosine``: half a cosine from 1 to ``min_factor``.

``step`` counts optimizer steps already taken, so the factor for the very first update is
``lr_factor(0, ...)`` and the last update of a ``total``-step run uses ``lr_factor(total - 1, ...)``.
The torch scheduler is stepped once per optimizer step (never once per process or per
micro-batch), which keeps these counts right under gradient accumulation and multi-GPU runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from worker.ml.train.config import ScheduleKind, TrainConfig


@dataclass(frozen=True, slots=True)
class Schedule:
    """A warm-up + decay learning-rate multiplier over ``total`` optimizer steps."""

    kind: ScheduleKind
    total: int
    warmup: int
    warmup_start_factor: float = 0.001
    milestones: tuple[float, ...] = (0.9, 0.95)
    gamma: float = 0.1
    power: float = 0.9
    min_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.total < 1:
            raise ValueError(f"total iterations must be >= 1, got {self.total}")
        if not 0 <= self.warmup <= self.total:
            raise ValueError(f"warm-up {self.warmup} must lie in [0, total={self.total}]")

    @property
    def milestone_steps(self) -> tuple[int, ...]:
        """Optimizer steps from which each ``step`` decay applies (``round(fraction * total)``)."""
        return tuple(round(m * self.total) for m in self.milestones)

    def factor(self, step: int) -> float:
        """Multiplier of the base learning rate for the update made after ``step`` completed steps."""
        if step < self.warmup:
            return self.warmup_start_factor + (1.0 - self.warmup_start_factor) * step / self.warmup
        if self.kind == "step":
            passed = sum(1 for m in self.milestone_steps if step >= m)
            return float(self.gamma) ** passed
        span = max(1, self.total - self.warmup)
        progress = min(1.0, (step - self.warmup) / span)
        if self.kind == "poly":
            return max(self.min_factor, float((1.0 - progress) ** self.power))
        if self.kind == "cosine":
            return self.min_factor + 0.5 * (1.0 - self.min_factor) * (1.0 + math.cos(math.pi * progress))
        raise ValueError(f"unknown schedule kind {self.kind!r}")


def schedule_from_config(config: TrainConfig, total: int, iterations_per_epoch: int) -> Schedule:
    """The schedule a run uses: warm-up defaults to one epoch (capped at the run length)."""
    warmup = config.warmup_iterations if config.warmup_iterations is not None else iterations_per_epoch
    return Schedule(
        kind=config.schedule,
        total=total,
        warmup=min(warmup, total),
        warmup_start_factor=config.warmup_start_factor,
        milestones=config.step_milestones,
        gamma=config.step_gamma,
        power=config.poly_power,
        min_factor=config.min_lr_factor,
    )


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: Schedule) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying ``schedule.factor`` to every parameter group's base lr."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule.factor)
