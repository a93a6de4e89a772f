"""Experiments (issue 12): the stage graph of a run and the planner that advances it (pure).

An experiment run is a graph of ordinary jobs:

- ``teacher`` (only when the spec trains its teacher): train on the sources' ground truth;
- ``pl:r<R>:<i>``: pseudo-label extra ``i`` with round ``R``'s teacher (round 1: the teacher,
  round ``R`` > 1: the student of round ``R-1``, as the paper's second round);
- ``student:r<R>``: train the student on the sources + every ``pl:r<R>:*`` run;
- ``eval:teacher:<j>`` / ``eval:student:r<R>:<j>``: evaluate on evaluation set ``j``.

:func:`plan` looks at the statuses of the stages that exist and says which stages are ready (all
their needs succeeded) and what the run's status is. It never decides twice: the service advances a
run under a compare-and-set on the run's version, so two advancers cannot both submit a stage.
:func:`fingerprint` identifies a stage's inputs, so a later run (an *update* after a mapping fix)
reuses every finished stage whose inputs did not change instead of running it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

TEACHER = "teacher"
# Stage parameters that name things but do not change what a stage computes.
COSMETIC_PARAMS = frozenset({"name", "output_name", "model_name", "queue", "device", "update_from_job_id"})


class StageKind(StrEnum):
    TRAIN_TEACHER = "train_teacher"
    PSEUDO_LABEL = "pseudo_label"
    TRAIN_STUDENT = "train_student"
    EVALUATE = "evaluate"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# A run's allowed status changes (compare-and-set in the repository): failed and cancelled runs
# resume (back to running); a succeeded run is final (changes make a new run).
RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.RUNNING: frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}),
    RunStatus.FAILED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED}),
    RunStatus.CANCELLED: frozenset({RunStatus.RUNNING}),
    RunStatus.SUCCEEDED: frozenset(),
}
_DONE, _BROKEN = "succeeded", frozenset({"failed", "cancelled"})


@dataclass(frozen=True, slots=True)
class Stage:
    """One node of a run's graph: its key, kind, round, set index, whose model, and its needs."""

    key: str
    kind: StageKind
    round: int  # 0: the teacher's stages
    index: int | None = None  # the extra (pseudo_label) or evaluation set (evaluate)
    model: str = TEACHER  # evaluate: "teacher" or "student"
    needs: tuple[str, ...] = ()


def pl_key(round_: int, index: int) -> str:
    return f"pl:r{round_}:{index}"


def student_key(round_: int) -> str:
    return f"student:r{round_}"


def eval_key(model: str, index: int, round_: int = 0) -> str:
    return f"eval:teacher:{index}" if model == TEACHER else f"eval:student:r{round_}:{index}"


def stage_graph(*, extras: int, evaluations: int, rounds: int, train_teacher: bool) -> tuple[Stage, ...]:
    """Every stage of a run, in a stable order (teacher, then per round: labels, student, scores)."""
    if extras < 1 or evaluations < 1 or rounds < 1:
        raise ValueError("a run needs at least one extra, one evaluation set and one round")
    teacher_needs: tuple[str, ...] = (TEACHER,) if train_teacher else ()
    stages: list[Stage] = []
    if train_teacher:
        stages.append(Stage(TEACHER, StageKind.TRAIN_TEACHER, 0))
    stages += [
        Stage(eval_key(TEACHER, j), StageKind.EVALUATE, 0, j, TEACHER, teacher_needs)
        for j in range(evaluations)
    ]
    for r in range(1, rounds + 1):
        labeller = teacher_needs if r == 1 else (student_key(r - 1),)
        stages += [Stage(pl_key(r, i), StageKind.PSEUDO_LABEL, r, i, needs=labeller) for i in range(extras)]
        stages.append(
            Stage(
                student_key(r), StageKind.TRAIN_STUDENT, r, needs=tuple(pl_key(r, i) for i in range(extras))
            )
        )
        stages += [
            Stage(eval_key("student", j, r), StageKind.EVALUATE, r, j, "student", (student_key(r),))
            for j in range(evaluations)
        ]
    return tuple(stages)


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do next: the stages to submit now, the run's status, and the stages that broke."""

    ready: tuple[Stage, ...]
    status: RunStatus
    broken: tuple[str, ...] = ()
    done: int = 0
    total: int = 0


def plan(graph: Sequence[Stage], states: Mapping[str, str]) -> Plan:
    """Advance a run: ``states`` maps each existing stage's key to its job's status.

    A failed or cancelled stage stops the run (failed; nothing new is submitted, stages already
    running finish) until it is resumed. A run whose every stage succeeded has succeeded.
    """
    broken = tuple(s.key for s in graph if states.get(s.key) in _BROKEN)
    done = sum(1 for s in graph if states.get(s.key) == _DONE)
    if broken:
        return Plan((), RunStatus.FAILED, broken, done, len(graph))
    if done == len(graph):
        return Plan((), RunStatus.SUCCEEDED, (), done, len(graph))
    ready = tuple(s for s in graph if s.key not in states and all(states.get(n) == _DONE for n in s.needs))
    return Plan(ready, RunStatus.RUNNING, (), done, len(graph))


def fingerprint(kind: str, params: Mapping[str, Any]) -> str:
    """sha256 of a stage's job kind and its parameters that change the result (names left out)."""
    kept = {k: v for k, v in params.items() if k not in COSMETIC_PARAMS}
    blob = json.dumps({"kind": kind, "params": kept}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def same_except_mapping(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether two pseudo-label parameter sets differ only in their mapping version (and names)."""
    ignore = COSMETIC_PARAMS | {"mapping_version_id"}
    return {k: v for k, v in old.items() if k not in ignore} == {
        k: v for k, v in new.items() if k not in ignore
    }
