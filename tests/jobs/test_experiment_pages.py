"""Experiment pages through HTTP (issue 12): list, the new-experiment form and spec box, the page with
its self-polling run panel, resume/cancel/update, the spec download.

Jobs are not run (tasks are captured by ``sent``); a stage's job is finished by writing its row, as
in tests/jobs/test_experiment_api.py.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.jobs.conftest import approve_version
from tests.web.pages.conftest import login as login  # noqa: F401  (fixture)

Headers = dict[str, str]
POLL = 'hx-trigger="every 2s"'


@pytest.fixture
def approved(client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any]) -> dict[str, Any]:
    approve_version(client, editor, reviewer, world["mapping"])
    return world


def _form(**overrides: str) -> dict[str, str]:
    return {
        "name": "exp",
        "description": "from the form",
        "target_taxonomy": "demo-4",  # worker.demo.TARGET
        "teacher.mode": "model",
        "teacher.model": "tiny",
        "sources.0.dataset": "streets", "sources.0.mapping": "m", "sources.0.split": "train",
        "sources.0.weight": "1",
        "extras.0.dataset": "streets", "extras.0.mapping": "m", "extras.0.split": "train",
        "extras.0.weight": "2",
        "evaluation.0.dataset": "streets", "evaluation.0.mapping": "m", "evaluation.0.split": "val",
        "student.training.preset": "quick",
        "rounds": "1",
    } | overrides  # fmt: skip


def _page(browser: Any, url: str) -> str:
    r = browser.get(url)
    assert r.status_code == 200, r.text
    return html.unescape(r.text)


def _error_of(page: str, field_id: str) -> str:
    match = re.search(rf'<span class="error" id="{re.escape(field_id)}-desc">(.*?)</span>', page)
    assert match, f"no error under {field_id}"
    return match.group(1)


def _create(browser: Any, **overrides: str) -> int:
    r = browser.post("/experiments/new", _form(**overrides))
    assert r.status_code == 303, html.unescape(r.text)[-3000:]
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_form_renders_the_pieces_and_the_nav_link(login, approved: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    page = _page(login("editor"), "/experiments/new")
    assert '<a href="/experiments" aria-current="page">Experiments</a>' in page
    assert f'<option value="{approved["target"]["name"]}" >' in page
    assert '<option value="streets" >streets</option>' in page and '<option value="tiny" >tiny (' in page
    for group in ("sources", "extras", "evaluation"):
        assert f'id="{group}-row-0"' in page and f'hx-get="/experiments/new/row?group={group}"' in page
    assert 'name="pseudo_label.tta"' in page and 'action="/experiments/new/spec"' in page
    assert "Pre-filled with the demo experiment" not in page  # no demo objects registered here


def test_add_row_follows_the_highest_row_number(login, approved: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    browser = login("editor")
    r = browser.get(
        "/experiments/new/row?group=extras&extras.0.dataset=&extras.4.dataset=x&sources.9.dataset="
    )
    assert r.status_code == 200 and 'id="extras-row-5"' in r.text and 'name="extras.5.mapping"' in r.text
    assert browser.get("/experiments/new/row?group=bogus").status_code == 422


def test_the_form_creates_an_experiment_and_its_page_polls(  # type: ignore[no-untyped-def]
    login, approved: dict[str, Any], sent: list[Any]
) -> None:
    browser = login("editor")
    exp_id = _create(browser)
    assert len(sent) == 2  # teacher evaluation + pseudo-labelling, after the commit
    page = _page(browser, f"/experiments/{exp_id}")
    assert "Experiment created; run 1 started." in page
    assert POLL in page and 'data-status="running"' in page
    assert "Pseudo-label streets-train (round 1)" in page and "Train the student (round 1)" in page
    assert re.search(r'<a href="/jobs/\d+">job \d+</a>', page) and "not submitted yet" in page
    assert "Cancel run 1" in page and "hx-confirm=" in page and "Resume run 1" not in page
    assert 'id="results-title"' in page  # the results tables (or where they will appear)
    assert "Provenance of run 1" in page and approved["mapping"]["name"] in page
    listing = _page(browser, "/experiments")
    assert f'<a href="/experiments/{exp_id}">exp</a>' in listing and "0 / 4" in listing
    spec = yaml.safe_load(browser.get(f"/experiments/{exp_id}/spec.yaml").text)
    assert spec["extras"][0] == {
        "dataset": "streets", "mapping": "m", "version": None, "split": "train", "weight": 2.0, "name": None
    }  # fmt: skip
    assert spec["teacher"]["model"] == "tiny" and spec["pseudo_label"]["tta"] is False


def test_refusals_are_shown_next_to_the_field_they_name(  # type: ignore[no-untyped-def]
    login, approved: dict[str, Any], sent: list[Any]
) -> None:
    browser = login("editor")
    # A gap in the extras rows (row 3 after row 0): the service's extras.1 is form row 3.
    r = browser.post(
        "/experiments/new",
        _form(**{"extras.3.dataset": "streets", "extras.3.mapping": "nope", "extras.3.split": "train"}),
    )
    assert r.status_code == 422
    page = html.unescape(r.text)
    assert "'nope' does not exist" in _error_of(page, "f-extras-3-mapping")
    assert 'value="nope"' not in page or 'name="extras.3.mapping"' in page
    r = browser.post("/experiments/new", _form(**{"extras.0.weight": "-1", "rounds": "9"}))
    page = html.unescape(r.text)
    assert r.status_code == 422 and "greater than or equal to 0" in _error_of(page, "f-extras-0-weight")
    assert "less than or equal to 5" in _error_of(page, "f-rounds")
    r = browser.post("/experiments/new", _form(**{"teacher.model": ""}))
    assert "choose a registered model" in _error_of(html.unescape(r.text), "f-teacher-model")
    r = browser.post("/experiments/new", _form(target_taxonomy="nope"))
    assert "does not exist" in _error_of(html.unescape(r.text), "f-target_taxonomy")
    assert "No experiments yet" in _page(browser, "/experiments")  # nothing stored
    assert sent == []


def test_a_viewer_cannot_create_even_a_bad_form(login, approved: dict[str, Any], sent: list[Any]) -> None:  # type: ignore[no-untyped-def]
    viewer = login("viewer")
    assert viewer.get("/experiments/new").status_code == 403
    assert viewer.post("/experiments/new", {"rounds": "nonsense"}).status_code == 403  # 403 before 422
    assert viewer.post("/experiments/new/spec", {"spec_text": "{"}).status_code == 403
    assert 'href="/experiments/new"' not in _page(viewer, "/experiments")
    assert sent == []


def test_a_spec_pasted_or_uploaded(login, approved: dict[str, Any], sent: list[Any]) -> None:  # type: ignore[no-untyped-def]
    browser = login("editor")
    spec = {
        "name": "pasted",
        "target_taxonomy": approved["target"]["name"],
        "teacher": {"model": "tiny"},
        "sources": [{"dataset": "streets", "mapping": "m", "split": "train"}],
        "extras": [{"dataset": "streets", "mapping": "m", "split": "train", "name": "extra"}],
        "evaluation": [{"dataset": "streets", "mapping": "m", "split": "val"}],
    }
    r = browser.post("/experiments/new/spec", {"spec_text": yaml.safe_dump(spec)})
    assert r.status_code == 303, html.unescape(r.text)[-2000:]
    bad = browser.post("/experiments/new/spec", {"spec_text": "name: [unclosed"})
    assert bad.status_code == 422 and "not valid YAML or JSON" in _error_of(
        html.unescape(bad.text), "f-spec_text"
    )
    shape = browser.post("/experiments/new/spec", {"spec_text": '{"name": "x", "rounds": 0}'})
    message = _error_of(html.unescape(shape.text), "f-spec_text")
    assert "teacher: Field required" in message and "rounds: Input should be greater" in message
    unknown = {**spec, "name": "other", "extras": [{"dataset": "nope", "mapping": "m"}]}
    files = {"spec_file": ("spec.json", yaml.safe_dump(unknown).encode(), "application/json")}
    r = browser.client.post(
        "/experiments/new/spec", data={"csrf_token": browser.csrf}, files=files, follow_redirects=False
    )
    assert r.status_code == 422 and "extras.0.dataset: " in _error_of(html.unescape(r.text), "f-spec_text")


def test_cancel_then_resume_and_the_polling_stops(  # type: ignore[no-untyped-def]
    login, approved: dict[str, Any], sent: list[Any]
) -> None:
    browser = login("editor")
    exp_id = _create(browser)
    running = browser.get(f"/experiments/{exp_id}/runs/1/panel?done=0")
    assert POLL in running.text and f'hx-get="/experiments/{exp_id}/runs/1/panel?done=0"' in running.text
    assert "HX-Trigger" not in running.headers  # nothing finished since the last poll
    r = browser.post(f"/experiments/{exp_id}/runs/1/cancel", htmx=True)
    assert r.status_code == 200, r.text
    panel = html.unescape(r.text)
    assert 'id="run-panel"' in panel and POLL not in panel and 'data-status="cancelled"' in panel
    assert "Run 1 cancelled" in panel and "Resume run 1" in panel and "Cancel run 1" not in panel
    assert f'action="/experiments/{exp_id}/runs"' in panel  # New run
    ended = browser.get(f"/experiments/{exp_id}/runs/1/panel?done=0")
    assert POLL not in ended.text  # ended: no polling
    assert ended.headers["HX-Trigger"] == "experiment-run-progress"  # the results section re-fetches
    results = browser.get(f"/experiments/{exp_id}/runs/1/results")
    assert results.status_code == 200 and 'id="experiment-results"' in results.text
    again = browser.post(f"/experiments/{exp_id}/runs/1/cancel", htmx=True)
    assert again.status_code == 409 and "only running or failed runs" in html.unescape(again.text)
    r = browser.post(f"/experiments/{exp_id}/runs/1/resume")  # a plain form post: redirect
    assert r.status_code == 303 and r.headers["location"] == f"/experiments/{exp_id}?run=1"
    page = _page(browser, r.headers["location"])
    assert "Run 1 resumed" in page and POLL in page
    viewer = login("viewer")
    assert viewer.post(f"/experiments/{exp_id}/runs/1/cancel", htmx=True).status_code == 403
    assert "Cancel run 1" not in _page(viewer, f"/experiments/{exp_id}")


def test_a_newer_approved_mapping_offers_an_update(  # type: ignore[no-untyped-def]
    login, client: TestClient, editor: Headers, reviewer: Headers, approved: dict[str, Any], sent: list[Any]
) -> None:
    browser = login("editor")
    exp_id = _create(browser)
    mapping = approved["mapping"]
    from worker.demo import EDGES

    edges = [[s, t] for s, t in EDGES][:-1]
    url = f"/api/v1/mappings/{mapping['id']}"
    r = client.put(f"{url}/edges", json={"edges": edges, "base_version": 1}, headers=editor)
    assert r.status_code == 200, r.text
    approve_version(client, editor, reviewer, client.get(url, headers=editor).json())
    page = _page(browser, f"/experiments/{exp_id}")
    assert "stale: mapping v2 is approved (this run pins v1)" in page
    assert "Update when run 1 has ended" in page  # not while it runs
    browser.post(f"/experiments/{exp_id}/runs/1/cancel")
    page = _page(browser, f"/experiments/{exp_id}")
    assert f'action="/experiments/{exp_id}/update"' in page
    r = browser.post(f"/experiments/{exp_id}/update")
    assert r.status_code == 303 and r.headers["location"] == f"/experiments/{exp_id}?run=2"
    page = _page(browser, r.headers["location"])
    assert "Run 2" in page and re.search(r"v1 (->|→) v2", page) and 'name="run"' in page  # the run picker
    assert "run 1 — first run" in page  # the picker names each run by why it was started
    assert "Run 1" in _page(browser, f"/experiments/{exp_id}?run=1")
    # The provenance card is part of the results section, re-fetched when a stage finishes.
    assert "Provenance of run 2" in _page(browser, f"/experiments/{exp_id}/runs/2/results")
    assert browser.get(f"/experiments/{exp_id}?run=7").status_code == 404


def test_review_counts_of_a_finished_pseudo_label_stage(  # type: ignore[no-untyped-def]
    login, client: TestClient, editor: Headers, approved: dict[str, Any], sent: list[Any], session_factory
) -> None:
    from pathlib import Path

    from app.db.models_registry import Job
    from tests.jobs.test_image_review_api import IMAGES, review_url, write_run

    browser = login("editor")
    exp_id = _create(browser)
    with session_factory() as s:
        job = s.query(Job).filter(Job.kind == "pseudo_label").one()
        job_id, out = job.id, Path(job.output_dir)
        write_run(out)
        job.status = "succeeded"
        s.commit()
    body = {"decision": "rejected", "base_version": 0}
    assert client.put(review_url(job_id, "images/train/0001.png"), json=body, headers=editor).is_success
    panel = html.unescape(browser.get(f"/experiments/{exp_id}/runs/1/panel").text)
    counts = re.search(rf'data-review-counts="{job_id}">(.*?)</span>', panel, re.S)
    assert counts, panel
    text = " ".join(re.sub(r"<[^>]+>", " ", counts.group(1)).split())
    assert f"0 accepted · 1 rejected · {IMAGES} unreviewed" in text  # 9 + the failed image
    assert f'<a href="/jobs/{job_id}/review">Review images</a>' in counts.group(1)


def test_a_new_run_shows_where_a_reused_stage_ran(  # type: ignore[no-untyped-def]
    login, client: TestClient, editor: Headers, approved: dict[str, Any], sent: list[Any], session_factory
) -> None:
    from app.db.models_registry import Job

    browser = login("editor")
    exp_id = _create(browser)
    with session_factory() as s:
        job = s.query(Job).filter(Job.kind == "evaluate").one()
        job.status, job_id = "succeeded", job.id
        s.commit()
    assert browser.post(f"/experiments/{exp_id}/runs/1/cancel").status_code == 303
    r = browser.post(f"/experiments/{exp_id}/runs")  # the page's "New run" button
    assert r.status_code == 303 and r.headers["location"] == f"/experiments/{exp_id}?run=2"
    page = _page(browser, f"/experiments/{exp_id}")
    assert f'action="/experiments/{exp_id}/runs"' not in page  # run 2 is running: no "New run"
    again = browser.post(f"/experiments/{exp_id}/runs")
    assert again.status_code == 303 and "still running" in _page(browser, again.headers["location"])
    row = re.search(r'<tr data-stage="eval:teacher:0".*?</tr>', page, re.S)
    assert row and "reused from run 1" in row.group(0) and f'href="/jobs/{job_id}"' in row.group(0)
    assert "Run 2" in page and "run 1 — first run" in page
