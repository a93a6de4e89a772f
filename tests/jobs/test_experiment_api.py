"""Experiments through the REST API (issue 12): create from a spec, the run graph, resume, cancel.

Jobs are not run here (tasks are captured by ``sent``): a stage's job is finished by writing its
row as a worker would, then the run is advanced as a worker does after a job ends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Job
from app.services.experiment_runs import advance_active
from tests.jobs.conftest import approve_version

Headers = dict[str, str]


@pytest.fixture
def spec(client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any]) -> dict[str, Any]:
    approve_version(client, editor, reviewer, world["mapping"])
    return {
        "name": "exp",
        "target_taxonomy": world["target"]["name"],
        "teacher": {"model": world["model"]["name"]},
        "sources": [{"dataset": "streets", "mapping": "m", "split": "train", "name": "src"}],
        "extras": [{"dataset": "streets", "mapping": "m", "split": "train", "name": "extra"}],
        "evaluation": [{"dataset": "streets", "mapping": "m", "split": "val"}],
        "student": {"training": {"preset": "quick", "max_iterations": 2}},
        "pseudo_label": {"tta": False},
    }


def _finish(factory: sessionmaker[Session], job_id: int, status: str = "succeeded", **result: Any) -> None:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.status, job.result_json = status, json.dumps(result)
        s.commit()


def _finish_labels(factory: sessionmaker[Session], job_id: int) -> None:
    """Finish a pseudo-label stage with a run folder the training check accepts (one pair)."""
    _finish(factory, job_id)
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.output_dir
        out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    row = {"image": "images/train/0000.png", "label": "labels/train/0000.png", "split": "train"}
    (out / "pairs.jsonl").write_text(json.dumps(row) + "\n")


def _advance(factory: sessionmaker[Session], settings: Settings) -> None:
    with factory() as s:
        advance_active(s, settings)
        s.commit()


def _stages(client: TestClient, editor: Headers, exp_id: int, number: int = 1) -> dict[str, dict[str, Any]]:
    run = client.get(f"/api/v1/experiments/{exp_id}/runs/{number}", headers=editor).json()
    return {s["key"]: s for s in run["stages"]}


def test_create_submits_the_first_stages(
    client: TestClient, editor: Headers, spec: dict[str, Any], sent: list[Any]
) -> None:
    r = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor)
    assert r.status_code == 201, r.text
    body = r.json()
    run = body["runs"][0]
    assert run["number"] == 1 and run["status"] == "running" and run["reason"] == "first run"
    stages = {s["key"]: s for s in run["stages"]}
    assert set(stages) == {"eval:teacher:0", "pl:r1:0", "student:r1", "eval:student:r1:0"}
    assert stages["pl:r1:0"]["status"] == "queued" and stages["eval:teacher:0"]["status"] == "queued"
    assert stages["student:r1"]["status"] == "waiting"
    assert len(sent) == 2  # one task per submitted stage, after the commit
    again = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor)
    assert again.status_code == 409


def test_the_run_advances_to_the_end(
    client: TestClient,
    editor: Headers,
    spec: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, Any],
) -> None:
    exp = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor).json()
    stages = _stages(client, editor, exp["id"])
    _finish_labels(session_factory, stages["pl:r1:0"]["job_id"])
    _advance(session_factory, settings)
    stages = _stages(client, editor, exp["id"])
    assert stages["student:r1"]["status"] == "queued", stages
    with session_factory() as s:
        train = s.get(Job, stages["student:r1"]["job_id"])
        assert train is not None
        params = json.loads(train.params_json)
    kinds = [t["kind"] for t in params["train_sets"]]
    assert kinds == ["ground_truth", "pseudo_labels"]
    assert params["train_sets"][1]["job_id"] == stages["pl:r1:0"]["job_id"]
    _finish(session_factory, stages["student:r1"]["job_id"], model_id=world["model"]["id"])
    _advance(session_factory, settings)
    stages = _stages(client, editor, exp["id"])
    assert stages["eval:student:r1:0"]["status"] == "queued"
    for key in ("eval:student:r1:0", "eval:teacher:0"):
        _finish(session_factory, stages[key]["job_id"])
    _advance(session_factory, settings)
    run = client.get(f"/api/v1/experiments/{exp['id']}/runs/1", headers=editor).json()
    assert run["status"] == "succeeded" and run["done"] == run["total"] == 4

    # Nothing changed: `update` says so; a new run reuses every finished stage and ends at once.
    r = client.post(f"/api/v1/experiments/{exp['id']}/update", headers=editor)
    assert r.status_code == 409 and "nothing to update" in r.json()["error"]["message"]
    sent.clear()
    second = client.post(f"/api/v1/experiments/{exp['id']}/runs", headers=editor)
    assert second.status_code == 201, second.text
    assert second.json()["number"] == 2 and second.json()["status"] == "succeeded"
    assert all(s["reused"] and s["status"] == "succeeded" for s in second.json()["stages"])
    assert sent == []  # no job submitted
    card = client.get(f"/api/v1/experiments/{exp['id']}/runs/2/provenance", headers=editor).json()
    assert {i["kind"] for i in card["inputs"]} >= {"spec", "code", "model", "dataset"}
    assert all(j["reused"] for j in card["jobs"]) and len(card["jobs"]) == 4
    hashes = {i["name"]: i["hash"] for i in card["inputs"] if i["kind"] == "dataset"}
    assert len(hashes["src"]) == 64 and hashes["src"] == hashes["extra"]  # the same files (train split)
    assert hashes["streets-val"] != hashes["src"]  # another split, other files


def test_failed_stage_fails_the_run_and_resume_retries_it(
    client: TestClient,
    editor: Headers,
    spec: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    exp = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor).json()
    stages = _stages(client, editor, exp["id"])
    _finish(session_factory, stages["eval:teacher:0"]["job_id"])
    _finish(session_factory, stages["pl:r1:0"]["job_id"], status="failed")
    _advance(session_factory, settings)
    run = client.get(f"/api/v1/experiments/{exp['id']}/runs/1", headers=editor).json()
    assert run["status"] == "failed" and "pl:r1:0" in run["message"]
    r = client.post(f"/api/v1/experiments/{exp['id']}/runs/1/resume", headers=editor)
    assert r.status_code == 200, r.text
    stages = _stages(client, editor, exp["id"])
    assert stages["pl:r1:0"]["status"] == "queued"  # the same job, retried
    assert stages["eval:teacher:0"]["status"] == "succeeded"  # kept
    assert client.post(f"/api/v1/experiments/{exp['id']}/runs/1/resume", headers=editor).status_code == 409


def test_cancel_cancels_every_unfinished_stage(
    client: TestClient, editor: Headers, spec: dict[str, Any], sent: list[Any]
) -> None:
    exp = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor).json()
    r = client.post(f"/api/v1/experiments/{exp['id']}/runs/1/cancel", headers=editor)
    assert r.status_code == 200, r.text
    stages = _stages(client, editor, exp["id"])
    assert stages["pl:r1:0"]["status"] == "cancelled" and stages["eval:teacher:0"]["status"] == "cancelled"
    assert r.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/experiments/{exp['id']}/runs/1/cancel", headers=editor).status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target_taxonomy": "nope"}, "target_taxonomy"),
        ({"extras": [{"dataset": "nope", "mapping": "m"}]}, "extras.0.dataset"),
        ({"extras": [{"dataset": "streets", "mapping": "nope"}]}, "extras.0.mapping"),
        ({"extras": [{"dataset": "streets", "mapping": "m", "version": 9}]}, "extras.0.version"),
        ({"extras": [{"dataset": "streets", "mapping": "m", "split": "nope"}]}, "extras.0.split"),
        ({"teacher": {"model": "nope"}}, "teacher.model"),
        ({"evaluation": [{"dataset": "streets", "mapping": "m", "split": "train"}]}, "evaluation.0.split"),
        ({"evaluation": [{"dataset": "streets", "mapping": "m"}]}, "evaluation.0.split"),
    ],
)
def test_bad_specs_are_refused_naming_the_field(
    client: TestClient,
    editor: Headers,
    spec: dict[str, Any],
    sent: list[Any],
    change: dict[str, Any],
    field: str,
) -> None:
    r = client.post("/api/v1/experiments", json={"spec": {**spec, **change}}, headers=editor)
    assert r.status_code in (400, 404, 422), r.text
    assert r.json()["error"]["field"] == field
    assert client.get("/api/v1/experiments", headers=editor).json()["total"] == 0  # nothing stored
    assert sent == []


def test_spec_shape_errors_are_422(client: TestClient, editor: Headers, spec: dict[str, Any]) -> None:
    for bad in (
        {**spec, "teacher": {}},
        {**spec, "extras": []},
        {**spec, "surprise": 1},
        {**spec, "rounds": 0},
    ):
        r = client.post("/api/v1/experiments", json={"spec": bad}, headers=editor)
        assert r.status_code == 422, r.text


def test_viewers_read_but_cannot_create_or_act(
    client: TestClient, editor: Headers, viewer: Headers, spec: dict[str, Any], sent: list[Any]
) -> None:
    # Who may act is checked before what was sent: a viewer's bad spec is a 403, not a 422.
    assert client.post("/api/v1/experiments", json={"spec": {}}, headers=viewer).status_code == 403
    assert client.post("/api/v1/experiments", json={"spec": spec}, headers=viewer).status_code == 403
    exp = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor).json()
    assert client.get(f"/api/v1/experiments/{exp['id']}", headers=viewer).status_code == 200
    for action in ("cancel", "resume"):
        r = client.post(f"/api/v1/experiments/{exp['id']}/runs/1/{action}", headers=viewer)
        assert r.status_code == 403
    assert client.get("/api/v1/experiments").status_code == 401


def test_concurrent_advancers_submit_each_stage_once(
    client: TestClient,
    editor: Headers,
    spec: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    """A worker that just finished a job and the sweep advance the same run at once (CAS on version)."""
    import threading

    from sqlalchemy import func, select

    from app.services.experiment_runs import advance

    exp = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor).json()
    stages = _stages(client, editor, exp["id"])
    _finish_labels(session_factory, stages["pl:r1:0"]["job_id"])
    run_id = exp["runs"][0]["id"]
    barrier, errors = threading.Barrier(4), []

    def advancer() -> None:
        try:
            barrier.wait()
            with session_factory() as s:
                advance(s, settings, run_id)
                s.commit()
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=advancer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # A loser may see its transaction refused (a lock or a unique key); none may submit twice.
    with session_factory() as s:
        trains = s.scalar(select(func.count()).select_from(Job).where(Job.kind == "train"))
    assert trains == 1, errors
    assert _stages(client, editor, exp["id"])["student:r1"]["status"] == "queued"


def test_the_student_can_start_from_the_teacher(
    client: TestClient,
    editor: Headers,
    spec: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
    world: dict[str, Any],
) -> None:
    both = {**spec, "student": {"start_from_teacher": True, "start_model": world["model"]["name"]}}
    assert client.post("/api/v1/experiments", json={"spec": both}, headers=editor).status_code == 422
    spec = {**spec, "student": {**spec["student"], "start_from_teacher": True}}
    exp = client.post("/api/v1/experiments", json={"spec": spec}, headers=editor).json()
    stages = _stages(client, editor, exp["id"])
    _finish_labels(session_factory, stages["pl:r1:0"]["job_id"])
    _advance(session_factory, settings)
    with session_factory() as s:
        train = s.get(Job, _stages(client, editor, exp["id"])["student:r1"]["job_id"])
        assert train is not None
        assert json.loads(train.params_json)["start_model_id"] == world["model"]["id"]
