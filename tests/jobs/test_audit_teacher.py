"""The surveying teacher's own evaluation beside the audit (issue 15): the editor's Audit section and
``GET /api/v1/mappings/{id}/audit`` say how far the survey can be trusted — the teacher's newest
evaluation in the target's classes, a warning when its mIoU is under 0.5 or when it was never
evaluated, and on each finding the classes it involves that the teacher is weak on (IoU under 0.35)
or that its evaluation never saw. Rules: app.domain.teacher_trust."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.config import Settings
from app.db.models_registry import Job
from tests.jobs.conftest import StoredSurvey
from tests.jobs.experiment_results_world import evaluation_json

Headers = dict[str, str]
HX = {"HX-Request": "true"}
# rows = truth (drivable, vehicle, vegetation, sky), columns = prediction + void
WEAK = [[40, 30, 20, 0, 10], [30, 10, 0, 0, 0], [50, 0, 10, 0, 0], [0, 0, 0, 90, 0]]  # mIoU 0.37
STRONG = [[95, 5, 0, 0, 0], [5, 35, 0, 0, 0], [0, 0, 60, 0, 0], [0, 0, 0, 50, 0]]
NO_VEGETATION = [[95, 5, 0, 0, 0], [5, 35, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 50, 0]]


def _evaluate(factory: sessionmaker[Session], world: dict[str, Any], confusion: list[list[int]]) -> int:
    """A finished evaluate job of the world's model, stored as ``worker.ml.evaluate`` stores it."""
    with factory() as s:
        job = Job(
            kind="evaluate",
            status="succeeded",
            name="eval",
            params_json=json.dumps({"split": "val"}),
            dataset_id=world["dataset"]["id"],
            model_id=world["model"]["id"],
            result_json=json.dumps(evaluation_json(confusion)),
        )
        s.add(job)
        s.commit()
        return int(job.id)


def _panel(client: TestClient, headers: Headers, mapping_id: int) -> str:
    r = client.get(f"/mappings/{mapping_id}/audit-panel?context=editor", headers=headers | HX)
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


def _audit(client: TestClient, headers: Headers, mapping_id: int, job_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/mappings/{mapping_id}/audit?survey_job_id={job_id}", headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _caveats(text: str) -> list[str]:
    return re.findall(r'<span class="audit-caveat">⚠ ([^<]+)</span>', text)


def test_a_teacher_never_evaluated_is_said_to_be_of_unknown_trust(
    client: TestClient, viewer: Headers, world: dict[str, Any], stored_survey: StoredSurvey
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    text = _panel(client, viewer, mapping_id)
    assert 'data-level="unknown"' in text
    assert "Teacher `tiny` has no evaluation in the target taxonomy" in text
    assert f'href="/models/{world["model"]["id"]}"' in text and not _caveats(text)
    teacher = _audit(client, viewer, mapping_id, job_id)["teacher"]
    assert teacher["model_name"] == "tiny" and teacher["evaluation_job_id"] is None
    assert teacher["miou"] is None and teacher["weak"] is False and teacher["class_iou"] == {}


def test_a_weak_teacher_is_a_warning_and_its_blind_spots_are_named_on_the_findings(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
    session_factory: sessionmaker[Session],
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    _evaluate(session_factory, world, STRONG)
    weak = _evaluate(session_factory, world, WEAK)  # the newest one counts
    text = _panel(client, viewer, mapping_id)
    assert 'data-level="warning"' in text and f'href="/jobs/{weak}"' in text
    assert re.search(r"Teacher `tiny`: mIoU 0\.\d\d on `streets` \(evaluation job \d+\); under 0\.50", text)
    # car -> vehicle is contradicted (78 % vegetation): the teacher's IoU is 0.125 on vegetation and
    # 0.14 on vehicle, both blind spots; unlabeled -> sky (void_confident): sky IoU 1.0, no caveat
    assert _caveats(text) == [
        f"the teacher's IoU is 0.12 on `vegetation`, 0.14 on `vehicle` (evaluation job {weak}): "
        "these may be its blind spots"
    ]
    body = _audit(client, viewer, mapping_id, job_id)
    assert body["teacher"]["evaluation_job_id"] == weak and body["teacher"]["weak"] is True
    assert body["teacher"]["class_iou"]["sky"] == 1.0
    by_kind = {f["kind"]: f for f in body["findings"]}
    assert by_kind["void_confident"]["caveats"] == []
    named = sorted(re.findall(r"on `(\w+)`", " ".join(by_kind["contradicted"]["caveats"])))
    assert named == ["vegetation", "vehicle"]


def test_a_class_the_evaluation_never_saw_is_unknown_and_the_fullest_evaluation_is_chosen(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
    session_factory: sessionmaker[Session],
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    partial = _evaluate(session_factory, world, NO_VEGETATION)
    body = _audit(client, viewer, mapping_id, job_id)
    assert body["teacher"]["evaluation_job_id"] == partial
    assert body["teacher"]["class_iou"]["vegetation"] is None
    contradicted = next(f for f in body["findings"] if f["kind"] == "contradicted")
    assert contradicted["caveats"] == [
        f"`vegetation` is not in evaluation job {partial}'s ground truth: "
        "the teacher's skill on it is unknown"
    ]
    strong = _evaluate(session_factory, world, STRONG)
    _evaluate(session_factory, world, NO_VEGETATION)  # newer, but its ground truth lacks vegetation
    text = _panel(client, viewer, mapping_id)
    assert 'data-level="ok"' in text and f'href="/jobs/{strong}"' in text
    assert "alert-warning" not in text.split('id="audit-teacher"')[1][:80]
    assert "Teacher `tiny`: mIoU 0.92 on `streets`" in text and "under 0.50" not in text
    assert not _caveats(text)


def test_the_cli_audit_prints_the_teacher_and_the_caveats(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.cli import app as cli_app

    monkeypatch.setattr("app.cli_common._settings", lambda: settings)
    job_id = stored_survey()
    mapping_id = str(world["mapping"]["id"])
    args = ["mapping", "audit", mapping_id, "--survey", str(job_id)]
    res = CliRunner().invoke(cli_app, args)
    assert res.exit_code == 1, res.output  # findings
    assert "warning: Teacher `tiny` has no evaluation in the target taxonomy" in res.output
    assert "caveat:" not in res.output
    weak = _evaluate(session_factory, world, WEAK)
    res = CliRunner().invoke(cli_app, args)
    assert "warning: Teacher `tiny`: mIoU 0.37 on `streets`" in res.output
    assert (
        f"    caveat: the teacher's IoU is 0.12 on `vegetation`, 0.14 on `vehicle` (evaluation job {weak})"
        in res.output
    )
    body = json.loads(CliRunner().invoke(cli_app, [*args, "--json"]).output)
    assert body["teacher"]["evaluation_job_id"] == weak and body["teacher"]["weak"] is True
    contradicted = next(f for f in body["findings"] if f["kind"] == "contradicted")
    assert len(contradicted["caveats"]) == 1


def test_data_evidence_for_a_class_the_teacher_is_weak_on_says_so(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
    session_factory: sessionmaker[Session],
) -> None:
    """The ghost chips' data evidence (the suggestions API with a survey) carries the same caveat;
    its strength is unchanged."""
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    url = f"/api/v1/mappings/{mapping_id}/suggestions?survey_job_id={job_id}&label=car"

    def data_of_best() -> dict[str, Any]:
        r = client.get(url, headers=viewer)
        assert r.status_code == 200, r.text
        best = r.json()["labels"][0]["suggestions"][0]
        assert best["target_name"] == "vegetation"
        return dict(next(e for e in best["evidence"] if e["kind"] == "data"))

    plain = data_of_best()
    assert plain["message"].endswith("(`vegetation`: 2.5x as often as on the other labels)")
    weak = _evaluate(session_factory, world, WEAK)
    noted = data_of_best()
    assert noted["message"] == (
        plain["message"] + f"; the teacher's IoU on `vegetation` is 0.12 (evaluation job {weak}): "
        "maybe its blind spot"
    )
    assert noted["strength"] == plain["strength"] == 0.78
    _evaluate(session_factory, world, STRONG)  # newest, as full: vegetation IoU 1.0, no note
    assert data_of_best()["message"] == plain["message"]
