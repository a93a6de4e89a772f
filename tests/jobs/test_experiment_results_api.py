"""Experiment results through the REST API (issue 12): a run's teacher vs student table per
evaluation set as JSON, CSV, Markdown and LaTeX; a comparison of two experiments; missing values
while stages are queued or failed; readers read, bad ids are 404, bad formats 422."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from tests.jobs.conftest import approve_version
from tests.jobs.experiment_results_world import (
    STUDENT_VAL,
    TEACHER_VAL,
    add_lanes,
    evaluation_json,
    finish,
    run_to_scores,
    spec_of,
    stages,
    train_student,
)

Headers = dict[str, str]
# IoU (points) of the confusions in experiment_results_world, worked out by hand:
# teacher on val: drivable 90/110, vehicle 30/45, vegetation 0/10, sky 40/50 -> mIoU 57.12
# student on val: drivable 95/105, vehicle 35/45, vegetation no pixels, sky 50/50 -> mIoU 89.42
# teacher on lanes: 50/50, 40/50, 20/30, 30/30 -> 86.67; student on lanes: 50/50, 30/50, 20/40, 30/30 -> 77.50
VAL = (57.12, 89.42)
LANES = (86.67, 77.50)


@pytest.fixture
def scored(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> int:
    approve_version(client, editor, reviewer, world["mapping"])
    return run_to_scores(client, editor, session_factory, settings, world)


def _points(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 2)


def test_json_table_of_the_latest_run(client: TestClient, viewer: Headers, scored: int) -> None:
    r = client.get(f"/api/v1/experiments/{scored}/results", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["experiment_id"], body["experiment"], body["run"]) == (scored, "exp", 1)
    assert body["run_status"] == "succeeded" and body["scored"] == body["expected"] == 4
    assert body["class_names"] == ["drivable", "vehicle", "vegetation", "sky"]
    rows = {row["name"]: row for row in body["rows"]}
    assert list(rows) == ["streets-val", "lanes-val"]  # the spec's order
    val = rows["streets-val"]
    assert (_points(val["a"]), _points(val["b"])) == VAL and val["student_round"] == 1
    assert _points(val["delta"]) == round(VAL[1] - VAL[0], 2)
    assert (_points(rows["lanes-val"]["a"]), _points(rows["lanes-val"]["b"])) == LANES
    assert "classes" not in val or val["classes"] is None  # only with per_class
    mean = body["mean"]
    assert mean["sets"] == 2 and _points(mean["a"]) == round((VAL[0] + LANES[0]) / 2, 2)
    per_class = client.get(f"/api/v1/experiments/{scored}/results?per_class=true", headers=viewer).json()
    classes = {c["name"]: c for c in per_class["rows"][0]["classes"]}
    assert _points(classes["drivable"]["a"]) == 81.82 and _points(classes["drivable"]["b"]) == 90.48
    assert classes["vegetation"] == {"name": "vegetation", "a": 0.0, "b": None, "delta": None}  # no pixels
    assert client.get(f"/api/v1/experiments/{scored}/results?run=1", headers=viewer).json() == body


def test_text_formats_are_downloads(client: TestClient, viewer: Headers, scored: int) -> None:
    url = f"/api/v1/experiments/{scored}/results"
    r = client.get(url, params={"format": "csv"}, headers=viewer)
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="exp-run1-results.csv"' in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["set", "teacher_miou_pct", "student_miou_pct", "delta_pp", "student_round"]
    assert rows[1] == ["streets-val", "57.12", "89.42", "32.30", "1"]
    assert rows[-1][0] == "Mean (2 sets)"
    r = client.get(url, params={"format": "md"}, headers=viewer)
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert "| streets-val | 57.1 | 89.4 | +32.3 | 1 |" in r.text.splitlines()
    assert "| lanes-val | 86.7 | 77.5 | -9.2 | 1 |" in r.text.splitlines()
    r = client.get(url, params={"format": "tex", "per_class": "true"}, headers=viewer)
    assert r.headers["content-type"] == "text/x-tex; charset=utf-8"
    assert 'filename="exp-run1-results-per-class.tex"' in r.headers["content-disposition"]
    assert r.text.count(r"\begin{tabular}") == 2 and r"streets-val & 57.1 & 89.4 & $+$32.3 & 1 \\" in r.text
    assert r"vegetation & 0.0 & -- & -- \\" in r.text  # a missing value is a dash, never 0
    text = client.get(url + "?format=csv&per_class=1", headers=viewer).text
    per_class = list(csv.reader(io.StringIO(text)))
    assert per_class[0][:2] == ["set", "class"] and len(per_class) == 1 + 2 * 4


def test_unfinished_and_failed_stages_are_missing_values(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    exp_id = train_student(client, editor, session_factory, settings, world, "partial")
    now = stages(client, editor, exp_id)
    finish(session_factory, now["eval:teacher:0"]["job_id"], **evaluation_json(TEACHER_VAL))
    finish(session_factory, now["eval:student:r1:0"]["job_id"], status="failed", error="boom")
    body = client.get(f"/api/v1/experiments/{exp_id}/results", headers=editor).json()
    assert body["run_status"] == "running" and (body["scored"], body["expected"]) == (1, 4)
    val, lanes = body["rows"]
    assert _points(val["a"]) == VAL[0] and val["b"] is None and val["delta"] is None
    assert val["student_round"] is None
    assert lanes["a"] is None and lanes["b"] is None
    assert body["mean"] == {"sets": 0, "a": None, "b": None, "delta": None}
    md = client.get(f"/api/v1/experiments/{exp_id}/results?format=md", headers=editor).text
    assert "| streets-val | 57.1 | \u2013 | \u2013 | \u2013 |" in md.splitlines()
    # a succeeded job whose result cannot be read is a missing value too, not a 500
    finish(session_factory, now["eval:student:r1:0"]["job_id"], metrics="not an object")
    again = client.get(f"/api/v1/experiments/{exp_id}/results", headers=editor).json()
    assert again["rows"][0]["b"] is None and again["scored"] == 1
    finish(session_factory, now["eval:student:r1:0"]["job_id"], **evaluation_json(STUDENT_VAL))
    done = client.get(f"/api/v1/experiments/{exp_id}/results", headers=editor).json()
    assert _points(done["rows"][0]["b"]) == VAL[1] and done["scored"] == 2


def test_compare_two_experiments(
    client: TestClient,
    editor: Headers,
    viewer: Headers,
    scored: int,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> None:
    # b: the same teacher; its student only got streets-val scored (lanes-val failed)
    other = run_to_scores(
        client,
        editor,
        session_factory,
        settings,
        world,
        "exp-b",
        {"eval:teacher:0": TEACHER_VAL, "eval:student:r1:0": TEACHER_VAL, "eval:student:r1:1": None},
    )
    r = client.get("/api/v1/experiments/compare", params={"a": scored, "b": other}, headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["label_a"], body["label_b"], body["side"]) == ("exp", "exp-b", "student")
    assert body["a"]["experiment_id"] == scored and body["b"]["run_status"] == "failed"
    val, lanes = body["rows"]
    assert (_points(val["a"]), _points(val["b"])) == (VAL[1], VAL[0])  # students: a's vs b's
    assert _points(lanes["a"]) == LANES[1] and lanes["b"] is None and lanes["delta"] is None
    assert body["mean"]["sets"] == 1
    teachers = client.get(
        "/api/v1/experiments/compare", params={"a": scored, "b": other, "side": "teacher"}, headers=viewer
    ).json()
    assert teachers["rows"][0]["delta"] == 0.0
    r = client.get(
        "/api/v1/experiments/compare", params={"a": scored, "b": other, "format": "md"}, headers=viewer
    )
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    assert 'filename="compare-exp-vs-exp-b.md"' in r.headers["content-disposition"]
    assert "| Evaluation set | exp | exp-b | \u0394 |" in r.text
    assert "| streets-val | 89.4 | 57.1 | -32.3 |" in r.text
    r = client.get(
        "/api/v1/experiments/compare",
        params={"a": scored, "b": other, "format": "csv", "per_class": "true"},
        headers=viewer,
    )
    assert r.text.splitlines()[0] == "set,class,exp,exp-b,delta_pp"


def test_bad_ids_are_404_and_bad_formats_422(client: TestClient, viewer: Headers, scored: int) -> None:
    for url, field in (
        ("/api/v1/experiments/999/results", "experiment_id"),
        (f"/api/v1/experiments/{scored}/results?run=7", "run"),
        (f"/api/v1/experiments/compare?a={scored}&b=999", "experiment_id"),
    ):
        r = client.get(url, headers=viewer)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["field"] == field
    for url, field in (
        (f"/api/v1/experiments/{scored}/results?format=xlsx", "format"),
        (f"/api/v1/experiments/{scored}/results?run=0", "run"),
        (f"/api/v1/experiments/{scored}/results?per_class=maybe", "per_class"),
        (f"/api/v1/experiments/compare?a={scored}", "b"),
        (f"/api/v1/experiments/compare?a={scored}&b={scored}", "b"),
        (f"/api/v1/experiments/compare?a={scored}&b=x", "b"),
        (f"/api/v1/experiments/compare?a={scored}&b=1&format=pdf", "format"),
        (f"/api/v1/experiments/compare?a={scored}&b=1&side=both", "side"),
    ):
        r = client.get(url, headers=viewer)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["field"] == field, (url, r.text)
    assert client.get(f"/api/v1/experiments/{scored}/results").status_code == 401


def test_an_experiment_without_a_run_has_no_results(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    settings: Settings,
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    add_lanes(world, settings)
    body = {"spec": spec_of(world, "idle"), "start": False}
    r = client.post("/api/v1/experiments", json=body, headers=editor)
    assert r.status_code == 201, r.text
    exp = r.json()
    r = client.get(f"/api/v1/experiments/{exp['id']}/results", headers=editor)
    assert r.status_code == 404 and r.json()["error"]["field"] == "run"
    assert "no run yet" in r.json()["error"]["message"]
