"""Learning-rate schedules: values at given optimizer steps, and the torch scheduler wiring."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from worker.ml.train.config import TrainConfig
from worker.ml.train.schedule import Schedule, make_scheduler, schedule_from_config


def test_step_schedule_warms_up_then_drops_at_90_and_95_percent() -> None:
    s = Schedule(kind="step", total=1000, warmup=100, warmup_start_factor=0.0)
    assert s.factor(0) == 0.0
    assert s.factor(50) == pytest.approx(0.5)
    assert s.factor(100) == 1.0
    assert s.factor(899) == 1.0
    assert s.factor(900) == pytest.approx(0.1)
    assert s.factor(949) == pytest.approx(0.1)
    assert s.factor(950) == pytest.approx(0.01)
    assert s.factor(999) == pytest.approx(0.01)
    assert s.milestone_steps == (900, 950)


def test_poly_and_cosine_reach_their_floor_at_the_last_step() -> None:
    poly = Schedule(kind="poly", total=110, warmup=10, power=1.0, min_factor=0.0)
    assert poly.factor(10) == 1.0
    assert poly.factor(60) == pytest.approx(0.5)
    assert poly.factor(110) == 0.0
    cosine = Schedule(kind="cosine", total=110, warmup=10, min_factor=0.1)
    assert cosine.factor(10) == pytest.approx(1.0)
    assert cosine.factor(60) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine.factor(110) == pytest.approx(0.1)
    assert math.isclose(cosine.factor(35), 0.1 + 0.45 * (1 + math.cos(math.pi * 0.25)))


def test_warmup_defaults_to_one_epoch_and_is_capped_by_the_run(tmp_path: Path) -> None:
    config = TrainConfig(output_dir=tmp_path, class_names=("a",))
    assert schedule_from_config(config, total=500, iterations_per_epoch=37).warmup == 37
    assert schedule_from_config(config, total=10, iterations_per_epoch=37).warmup == 10


def test_scheduler_steps_once_per_optimizer_step() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([{"params": [param], "lr": 1e-4}])
    schedule = Schedule(kind="step", total=20, warmup=4, warmup_start_factor=0.0)
    scheduler = make_scheduler(optimizer, schedule)
    seen = []
    for _ in range(20):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx([1e-4 * schedule.factor(step) for step in range(20)])
    assert seen[0] == 0.0 and seen[18] == pytest.approx(1e-5) and seen[19] == pytest.approx(1e-6)


def test_schedule_rejects_bad_lengths() -> None:
    with pytest.raises(ValueError):
        Schedule(kind="step", total=0, warmup=0)
    with pytest.raises(ValueError):
        Schedule(kind="step", total=10, warmup=11)
