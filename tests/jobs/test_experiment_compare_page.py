"""The compare page (issue 12): ``GET /experiments/compare?a=&b=`` picks two experiments and sets
their latest runs side by side (students by default, teachers on request) with per-class tables and
downloads; a choice that cannot be compared is said on the page under a 4xx status."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from tests.jobs.conftest import approve_version
from tests.jobs.experiment_results_world import STUDENT_VAL, TEACHER_VAL, run_to_scores

Headers = dict[str, str]


def _text(page: str) -> str:
    """The page's text: tags dropped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


@pytest.fixture
def two(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
    settings: Settings,
) -> tuple[int, int]:
    approve_version(client, editor, reviewer, world["mapping"])
    a = run_to_scores(client, editor, session_factory, settings, world, "baseline")
    # b's student scores what a's teacher scored on streets-val; lanes-val is not evaluated yet
    b = run_to_scores(
        client,
        editor,
        session_factory,
        settings,
        world,
        "<i>fixed</i>",
        {"eval:teacher:0": STUDENT_VAL, "eval:student:r1:0": TEACHER_VAL},
    )
    return a, b


def test_the_picker_lists_experiments(client: TestClient, viewer: Headers, two: tuple[int, int]) -> None:
    r = client.get("/experiments/compare", headers=viewer)
    assert r.status_code == 200
    assert f'<option value="{two[0]}" >baseline (#{two[0]})</option>' in r.text
    assert "&lt;i&gt;fixed&lt;/i&gt;" in r.text and "<i>fixed</i>" not in r.text  # names are escaped
    assert "Choose two experiments to compare" in r.text
    assert 'action="/experiments/compare" method="get"' in r.text
    picked = client.get(f"/experiments/compare?a={two[0]}", headers=viewer).text
    assert f'<option value="{two[0]}" selected>baseline' in picked


def test_two_experiments_side_by_side(client: TestClient, viewer: Headers, two: tuple[int, int]) -> None:
    a, b = two
    r = client.get(f"/experiments/compare?a={a}&b={b}", headers=viewer)
    assert r.status_code == 200, r.text
    text = _text(r.text)
    assert "Students: mIoU per evaluation set" in text
    assert f'href="/experiments/{a}?run=1">baseline</a>' in r.text
    # streets-val: a's student 89.4, b's student 57.1 -> -32.3 (b worse); lanes-val: b has no value
    assert "streets-val 89.4 57.1 -32.3 points, <i>fixed</i> worse" in text
    assert "lanes-val 77.5 – –" in text
    assert "Mean (1 set with both)" in text
    assert "drivable 90.5 81.8 -8.7" in text  # per class on streets-val
    assert "vegetation – 0.0 –" in text  # a's student had no vegetation pixels
    for fmt in ("csv", "md", "tex"):
        assert f"/api/v1/experiments/compare?a={a}&amp;b={b}&amp;side=student&amp;format={fmt}" in r.text
    teachers = _text(client.get(f"/experiments/compare?a={a}&b={b}&side=teacher", headers=viewer).text)
    assert "Teachers: mIoU per evaluation set" in teachers
    assert "streets-val 57.1 89.4 +32.3 points, <i>fixed</i> better" in teachers


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("a={a}&b={a}", 422, "a and b are the same experiment"),
        ("a={a}&b=999", 404, "experiment 999 does not exist"),
    ],
)
def test_choices_that_cannot_be_compared_are_explained(
    client: TestClient, viewer: Headers, two: tuple[int, int], query: str, status: int, message: str
) -> None:
    r = client.get("/experiments/compare?" + query.format(a=two[0]), headers=viewer)
    assert r.status_code == status
    assert 'role="alert"' in r.text and message in html.unescape(r.text)
    assert 'id="compare-a"' in r.text  # the picker stays, to choose again


def test_bad_query_and_access(client: TestClient, viewer: Headers, two: tuple[int, int]) -> None:
    html_accept = {"Accept": "text/html"}
    assert client.get("/experiments/compare?a=x&b=1", headers=viewer | html_accept).status_code == 422
    assert client.get("/experiments/compare?a=1&b=2&side=both", headers=viewer).status_code == 422
    anonymous = client.get("/experiments/compare", headers=html_accept, follow_redirects=False)
    assert anonymous.status_code in (303, 401)


def test_no_experiments_yet(client: TestClient, viewer: Headers) -> None:
    r = client.get("/experiments/compare", headers=viewer)
    assert r.status_code == 200 and "No experiments yet" in r.text
