"""Results of an experiment run (services layer, read-only): teacher vs student per evaluation set.

A run evaluates its teacher (``eval:teacher:<j>``) and each round's student
(``eval:student:r<R>:<j>``) on every evaluation set ``j`` of its pinned inputs. :func:`run_results`
reads the ``result_json`` of those ``evaluate`` jobs that succeeded (any other stage, or a result
that cannot be read, is a missing value, never 0) and builds the domain
:class:`~app.domain.experiment_results.ResultTable` over the target taxonomy's class names.
:func:`compare` lines up the latest runs of two experiments (their students by default).
The tables' JSON and text forms are in :mod:`app.domain.experiment_results`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_experiments as repo
from app.db.models_experiments import Experiment, ExperimentRun
from app.db.models_registry import Job
from app.domain.errors import InvalidInput, NotFound
from app.domain.experiment_results import (
    ComparisonTable,
    ResultTable,
    Score,
    SetScores,
    build_results,
    score_from_evaluation,
)
from app.domain.experiment_results import compare as compare_tables
from app.domain.experiment_results.tables import Side
from app.domain.experiments import TEACHER, StageKind
from app.services import experiments as experiment_service
from app.services.experiment_runs import graph_of
from app.services.taxonomies import load_taxonomy

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunResults:
    """The result table of one run, with what names it (for headings, links and file names)."""

    experiment_id: int
    experiment_name: str
    run_number: int
    run_status: str
    table: ResultTable
    scored: int  # evaluate stages with a score
    expected: int  # evaluate stages in the run's graph


@dataclass(frozen=True, slots=True)
class Comparison:
    a: RunResults
    b: RunResults
    table: ComparisonTable


def _score(job: Job | None, key: str) -> Score | None:
    """The score of a succeeded evaluate job; ``None`` for any other state or an unreadable result."""
    if job is None or job.status != "succeeded" or not job.result_json:
        return None
    try:
        return score_from_evaluation(json.loads(job.result_json))
    except (ValueError, InvalidInput) as exc:  # a stored result we cannot read: shown as missing
        log.warning("stage %s: evaluate job %s has an unreadable result: %s", key, job.id, exc)
        return None


def _class_names(session: Session, resolved: dict[str, Any]) -> tuple[str, ...]:
    taxonomy = load_taxonomy(session, int(resolved["target_taxonomy_id"]))
    return tuple(dict.fromkeys(taxonomy.names))  # a repeated name is one column (as in the scores)


def _table(session: Session, run: ExperimentRun) -> tuple[ResultTable, int, int]:
    resolved = json.loads(run.resolved_json)
    jobs = {stage.key: job for stage, job in repo.stage_jobs(session, run.id)}
    teacher: dict[int, Score | None] = {}
    student: dict[int, dict[int, Score | None]] = {}
    evaluations = [s for s in graph_of(resolved) if s.kind == StageKind.EVALUATE]
    scored = 0
    for stage in evaluations:
        index, score = int(stage.index or 0), _score(jobs.get(stage.key), stage.key)
        scored += score is not None
        if stage.model == TEACHER:
            teacher[index] = score
        else:
            student.setdefault(index, {})[stage.round] = score
    sets = [
        SetScores(str(pinned["name"]), teacher.get(j), student.get(j, {}))
        for j, pinned in enumerate(resolved["evaluation"])
    ]
    return build_results(_class_names(session, resolved), sets), scored, len(evaluations)


def _run(session: Session, experiment: Experiment, run_number: int | None) -> ExperimentRun:
    if run_number is not None:
        return experiment_service.get_run(session, experiment.id, run_number)
    run = experiment_service.latest_run(session, experiment.id)
    if run is None:
        raise NotFound(f"experiment {experiment.name!r} has no run yet: start one", field="run")
    return run


def run_results(session: Session, experiment_id: int, run_number: int | None = None) -> RunResults:
    """The results of run ``run_number`` (default: the latest run) of an experiment."""
    experiment = experiment_service.get_experiment(session, experiment_id)
    run = _run(session, experiment, run_number)
    table, scored, expected = _table(session, run)
    return RunResults(experiment.id, experiment.name, run.number, run.status, table, scored, expected)


def results(session: Session, experiment_id: int, run_number: int | None = None) -> ResultTable:
    """The result table of run ``run_number`` (default: the latest run) of an experiment."""
    return run_results(session, experiment_id, run_number).table


def compare(session: Session, a_id: int, b_id: int, *, side: Side = "student") -> Comparison:
    """The latest runs of experiments ``a_id`` and ``b_id`` side by side (differences are b - a)."""
    if a_id == b_id:
        raise InvalidInput("a and b are the same experiment: pick two different ones", field="b")
    a, b = run_results(session, a_id), run_results(session, b_id)
    return Comparison(a, b, compare_tables(a.table, b.table, a.experiment_name, b.experiment_name, side=side))
