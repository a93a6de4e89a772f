"""Experiment pages (web layer): the list, an experiment's page, its self-polling run panel, actions.

``GET /experiments/{id}/runs/{n}/panel`` renders ``experiments/_run.html``: the run's stages with
progress, job links, reuse/update badges, review counts of the pseudo-label stages, and the
Resume/Cancel buttons. While the run is running its root element carries ``hx-get`` (itself) and
``hx-trigger="every 2s"``; once the run has ended it renders without them and the polling stops.
Resume, cancel and update answer HTMX with the new panel and a toast, a plain form post with a
redirect. ``GET /experiments/{id}/spec.yaml`` downloads the stored spec.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.models import User
from app.db.models_experiments import Experiment, ExperimentRun
from app.domain.errors import DomainError
from app.domain.experiments import RunStatus
from app.domain.image_review import count_states
from app.services import experiment_reports as reports
from app.services import experiment_results, image_reviews
from app.services import experiments as service
from app.web.auth import EditorUser, ReadUser
from app.web.deps import SessionDep, SettingsDep
from app.web.pages._access import can_edit
from app.web.pages._render import (
    Fragments,
    Toast,
    flash,
    fragment,
    is_htmx,
    page,
    toast_response,
)

router = APIRouter(include_in_schema=False)


@router.get("/experiments", response_class=HTMLResponse)
def experiments_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    """Experiments, newest first: name, latest run status, stages done / total, created."""
    rows, total = service.list_experiments(session, limit=50, offset=offset)
    items = []
    for row in rows:
        run = service.latest_run(session, row.id)
        items.append({"e": row, "run": reports.run_payload(session, run) if run is not None else None})
    return page(
        request,
        "experiments/list.html",
        active_nav="experiments",
        items=items,
        total=total,
        offset=offset,
        can_edit=can_edit(user),
    )


def _review_counts(session: Session, stages: list[dict[str, Any]]) -> dict[int, dict[str, int]]:
    """Accepted / rejected / flagged / unreviewed images of each finished pseudo-label stage."""
    out: dict[int, dict[str, int]] = {}
    for stage in stages:
        if stage["kind"] != "pseudo_label" or stage["status"] != "succeeded" or stage["job_id"] is None:
            continue
        try:
            states = image_reviews.image_states(session, int(stage["job_id"]))
        except (DomainError, OSError):  # no manifest (yet): no counts, not an error page
            continue
        out[int(stage["job_id"])] = count_states(s.state for s in states)
    return out


def _origins(session: Session, experiment: Experiment, payload: dict[str, Any]) -> dict[int, int]:
    """job id -> the number of the run that ran it, for the stages this run reuses."""
    reused = {s["job_id"] for s in payload["stages"] if s["reused"] and s["job_id"] is not None}
    if not reused:
        return {}
    out: dict[int, int] = {}
    for run in reports.experiment_payload(session, experiment, with_staleness=False)["runs"]:
        for stage in run["stages"]:
            if stage["job_id"] in reused and not stage["reused"]:
                out.setdefault(int(stage["job_id"]), int(run["number"]))
    return out


def panel_context(
    session: Session, experiment: Experiment, run: ExperimentRun, user: User | None
) -> dict[str, Any]:
    payload = reports.run_payload(session, run)
    latest = service.latest_run(session, experiment.id)
    return {
        "e": experiment,
        "run": payload,
        "origins": _origins(session, experiment, payload),
        "is_latest": latest is not None and latest.id == run.id,
        "terminal": run.status != RunStatus.RUNNING.value,
        "reviews": _review_counts(session, payload["stages"]),
        "can_edit": can_edit(user),
    }


def _results(session: Session, experiment: Experiment, run: ExperimentRun) -> Any:
    """The results tables' context (None when the run cannot be scored yet)."""
    try:
        return experiment_results.run_results(session, experiment.id, run.number)
    except DomainError:
        return None


@router.get("/experiments/{experiment_id:int}", response_class=HTMLResponse)
def experiment_page(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    experiment_id: int,
    run: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """An experiment: the chosen run (default: the latest) live, staleness, provenance, results."""
    experiment = service.get_experiment(session, experiment_id)
    runs = reports.experiment_payload(session, experiment, with_staleness=False)["runs"]
    chosen = service.get_run(session, experiment_id, run) if run is not None else None
    chosen = chosen or service.latest_run(session, experiment_id)
    ctx: dict[str, Any] = {"panel": None} | _results_ctx(session, experiment, chosen)
    if chosen is not None:
        ctx["panel"] = panel_context(session, experiment, chosen, user)
    return page(
        request,
        "experiments/detail.html",
        active_nav="experiments",
        spec=json.loads(experiment.spec_json),
        runs=runs,
        staleness=reports.staleness(session, experiment),
        can_edit=can_edit(user),
        **ctx,
    )


@router.get("/experiments/{experiment_id:int}/runs/{number:int}/panel", response_class=HTMLResponse)
def run_panel_fragment(
    request: Request,
    session: SessionDep,
    user: ReadUser,
    experiment_id: int,
    number: int,
    done: Annotated[int | None, Query(ge=0, le=10_000)] = None,
) -> Response:
    """The run panel (polls itself every 2 s while the run is running). ``done`` is the number of
    finished stages the polling panel showed; when it changed, or the run ended, the answer triggers
    ``experiment-run-progress`` so the results section re-fetches itself."""
    experiment = service.get_experiment(session, experiment_id)
    run = service.get_run(session, experiment_id, number)
    ctx = panel_context(session, experiment, run, user)
    changed = done is not None and (done != ctx["run"]["done"] or ctx["terminal"])
    parts = Fragments().add(request, "experiments/_run.html", **ctx)
    return fragment(request, parts, trigger="experiment-run-progress" if changed else None)


@router.get("/experiments/{experiment_id:int}/runs/{number:int}/results", response_class=HTMLResponse)
def run_results_fragment(
    request: Request, session: SessionDep, _user: ReadUser, experiment_id: int, number: int
) -> Response:
    """The results section of a run (re-fetched when a stage finished)."""
    experiment = service.get_experiment(session, experiment_id)
    run = service.get_run(session, experiment_id, number)
    return fragment(
        request,
        Fragments().add(
            request, "experiments/_results_section.html", **_results_ctx(session, experiment, run)
        ),
    )


def _results_ctx(session: Session, experiment: Experiment, run: ExperimentRun | None) -> dict[str, Any]:
    return {
        "e": experiment,
        "run_number": run.number if run is not None else None,
        "results": _results(session, experiment, run) if run is not None else None,
        "provenance": reports.provenance(session, experiment, run) if run is not None else None,
    }


def _answer(
    request: Request, session: Session, user: User, experiment: Experiment, run: ExperimentRun, message: str
) -> Response:
    if is_htmx(request):
        parts = Fragments().add(
            request, "experiments/_run.html", **panel_context(session, experiment, run, user)
        )
        return fragment(request, parts.toast(request, Toast(message)))
    flash(request, message)
    return RedirectResponse(f"/experiments/{experiment.id}?run={run.number}", status_code=303)


def _refused(request: Request, experiment_id: int, exc: DomainError) -> Response:
    if is_htmx(request):
        return toast_response(request, Toast(exc.message, "error"), status_code=exc.status_code)
    flash(request, exc.message, "error")
    return RedirectResponse(f"/experiments/{experiment_id}", status_code=303)


@router.post("/experiments/{experiment_id:int}/runs/{number:int}/{action}", response_class=HTMLResponse)
def run_action(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: EditorUser,
    experiment_id: int,
    number: int,
    action: str,
) -> Response:
    """Resume (failed or cancelled) or cancel (running or failed) a run."""
    experiment = service.get_experiment(session, experiment_id)
    try:
        if action == "resume":
            run = service.resume(session, experiment_id=experiment_id, number=number, settings=settings)
            message = f"Run {number} resumed: broken stages retried, finished ones kept."
        elif action == "cancel":
            run = service.cancel(session, experiment_id=experiment_id, number=number)
            message = f"Run {number} cancelled with every unfinished stage."
        else:
            return HTMLResponse("", status_code=404)
    except DomainError as exc:
        session.rollback()
        return _refused(request, experiment_id, exc)
    return _answer(request, session, user, experiment, run, message)


@router.post("/experiments/{experiment_id:int}/update", response_class=HTMLResponse)
def experiment_update(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser, experiment_id: int
) -> Response:
    """A new run with the newest approved mapping versions (only affected images re-labelled)."""
    return _new_run(request, session, settings, user, experiment_id, update=True)


@router.post("/experiments/{experiment_id:int}/runs", response_class=HTMLResponse)
def experiment_new_run(
    request: Request, session: SessionDep, settings: SettingsDep, user: EditorUser, experiment_id: int
) -> Response:
    """A new run of the spec as it resolves now (finished stages with unchanged inputs are reused)."""
    return _new_run(request, session, settings, user, experiment_id, update=False)


def _new_run(
    request: Request, session: Session, settings: Settings, user: User, experiment_id: int, *, update: bool
) -> Response:
    service.get_experiment(session, experiment_id)
    start = service.update if update else service.start_run
    try:
        run = start(session, experiment_id=experiment_id, settings=settings, user_id=user.id)
    except DomainError as exc:
        session.rollback()
        return _refused(request, experiment_id, exc)
    flash(request, f"Run {run.number} started: {run.reason}.")
    return RedirectResponse(f"/experiments/{experiment_id}?run={run.number}", status_code=303)


@router.get("/experiments/{experiment_id:int}/spec.yaml")
def experiment_spec_yaml(session: SessionDep, _user: ReadUser, experiment_id: int) -> Response:
    """The stored spec as YAML (``unilabel experiment run`` reads it back unchanged)."""
    experiment = service.get_experiment(session, experiment_id)
    text = yaml.safe_dump(json.loads(experiment.spec_json), sort_keys=False, allow_unicode=True)
    filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in experiment.name) or "experiment"
    return Response(
        f"# experiment {experiment.name} (spec hash {experiment.spec_hash})\n" + text,
        media_type="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{filename}.yaml"'},
    )
