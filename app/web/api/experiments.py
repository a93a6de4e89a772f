"""Experiment REST endpoints (web layer): create from a spec, read, runs, resume, cancel, update.

Results (tables in JSON, CSV, Markdown, LaTeX) and comparisons are in
:mod:`app.web.api.experiment_results`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from app.db.session import commit_now
from app.schemas.experiments import ExperimentCreate, ExperimentList, ExperimentRead, RunRead
from app.services import experiment_reports as reports
from app.services import experiments as service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import IdPath, PageDep, SessionDep, SettingsDep

router = APIRouter(prefix="/experiments", tags=["experiments"])

CREATE_EXAMPLE = {
    "demo": {
        "summary": "The demo experiment (registered by `unilabel demo ml`)",
        "value": {
            "spec": {
                "name": "demo-scenes",
                "target_taxonomy": "demo-scenes-fine",
                "teacher": {"train": {"preset": "quick"}},
                "sources": [
                    {
                        "dataset": "demo-scenes-source",
                        "mapping": "demo-scenes-fine-identity",
                        "split": "train",
                    }
                ],
                "extras": [
                    {
                        "dataset": "demo-scenes-extra-a",
                        "mapping": "demo-scenes-coarse-to-fine",
                        "split": "train",
                    }
                ],
                "evaluation": [
                    {"dataset": "demo-scenes-source", "mapping": "demo-scenes-fine-identity", "split": "val"}
                ],
                "student": {"training": {"preset": "quick"}},
            }
        },
    }
}


def _read(session: SessionDep, experiment: Any, *, with_staleness: bool = True) -> ExperimentRead:
    return ExperimentRead(**reports.experiment_payload(session, experiment, with_staleness=with_staleness))


@router.post("", response_model=ExperimentRead, status_code=201)
def create_experiment(
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    body: Annotated[ExperimentCreate, Body(openapi_examples=CREATE_EXAMPLE)],
) -> ExperimentRead:
    """Create an experiment from a spec (docs/experiments.md) and start its first run."""
    experiment = service.create_experiment(
        session, spec=body.spec, settings=settings, user_id=user.id, start=body.start
    )
    commit_now(session)
    return _read(session, experiment)


@router.get("", response_model=ExperimentList)
def list_experiments(session: SessionDep, _user: ReadUser, page: PageDep) -> ExperimentList:
    """Experiments, newest first (with their runs; staleness is on the single read)."""
    rows, total = service.list_experiments(session, limit=page.limit, offset=page.offset)
    items = [_read(session, row, with_staleness=False) for row in rows]
    return ExperimentList(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{experiment_id}", response_model=ExperimentRead)
def read_experiment(experiment_id: IdPath, session: SessionDep, _user: ReadUser) -> ExperimentRead:
    """An experiment: its spec, every run with its stages, and whether a mapping fix made it stale."""
    return _read(session, service.get_experiment(session, experiment_id))


@router.post("/{experiment_id}/runs", response_model=RunRead, status_code=201)
def start_run(experiment_id: IdPath, session: SessionDep, settings: SettingsDep, user: EditorUser) -> RunRead:
    """Start a new run (finished stages whose inputs did not change are reused)."""
    run = service.start_run(session, experiment_id=experiment_id, settings=settings, user_id=user.id)
    commit_now(session)
    return RunRead(**reports.run_payload(session, run))


@router.post("/{experiment_id}/update", response_model=RunRead, status_code=201)
def update(experiment_id: IdPath, session: SessionDep, settings: SettingsDep, user: EditorUser) -> RunRead:
    """A new run with the newest approved mapping versions; only affected images are re-labelled."""
    run = service.update(session, experiment_id=experiment_id, settings=settings, user_id=user.id)
    commit_now(session)
    return RunRead(**reports.run_payload(session, run))


@router.get("/{experiment_id}/runs/{number}", response_model=RunRead)
def read_run(experiment_id: IdPath, number: IdPath, session: SessionDep, _user: ReadUser) -> RunRead:
    return RunRead(**reports.run_payload(session, service.get_run(session, experiment_id, number)))


@router.post("/{experiment_id}/runs/{number}/resume", response_model=RunRead)
def resume(
    experiment_id: IdPath, number: IdPath, session: SessionDep, settings: SettingsDep, _user: EditorUser
) -> RunRead:
    """Resume a failed or cancelled run: retry its broken stages; finished ones are kept."""
    run = service.resume(session, experiment_id=experiment_id, number=number, settings=settings)
    commit_now(session)
    return RunRead(**reports.run_payload(session, run))


@router.post("/{experiment_id}/runs/{number}/cancel", response_model=RunRead)
def cancel(experiment_id: IdPath, number: IdPath, session: SessionDep, _user: EditorUser) -> RunRead:
    """Cancel the run and every stage job that has not ended."""
    run = service.cancel(session, experiment_id=experiment_id, number=number)
    commit_now(session)
    return RunRead(**reports.run_payload(session, run))


@router.get("/{experiment_id}/runs/{number}/provenance")
def provenance(experiment_id: IdPath, number: IdPath, session: SessionDep, _user: ReadUser) -> dict[str, Any]:
    """The provenance card: every input with its hash, every stage job (run or reused)."""
    experiment = service.get_experiment(session, experiment_id)
    return reports.provenance(session, experiment, service.get_run(session, experiment_id, number))
