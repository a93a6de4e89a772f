"""The job form submits survey jobs too (issue 15): the kind is offered and pre-filled, a survey
needs no mapping version, and its fields are checked like the API's (sample size and seed ranges,
the split, the model), each problem under its field, with nothing queued."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.queue import TASK_PSEUDO_LABEL
from tests.web.pages.conftest import Registry, unescape
from tests.web.pages.test_jobs import _job_ids


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Tasks sent after commit (captured instead of reaching a broker)."""
    calls: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


def _survey_form(reg: Registry, **overrides: object) -> dict[str, object]:
    # what the browser posts: the hidden fields of the other kinds travel too and are ignored
    return {
        "kind": "survey", "model_id": reg.model_id, "dataset_id": reg.dataset_id, "mapping_version_id": "",
        "split": "", "sample_size": "3", "seed": "7", "tta": "1", "use_priors": "1", "shard_size": "50",
        "threshold": "", "output_name": "", "name": "", "max_images": "", "queue": "default",
    } | overrides  # fmt: skip


def _messages(text: str) -> dict[str, str]:
    return dict(re.findall(r'<span class="error" id="f-(\w+)-desc">([^<]*)</span>', unescape(text)))


def test_the_form_offers_a_survey_prefilled_from_the_query(login, registry: Registry) -> None:  # type: ignore[no-untyped-def]
    text = login("editor").get(f"/jobs/new?kind=survey&dataset_id={registry.dataset_id}").text
    assert re.search(r'value="survey"\s+checked', text)
    assert (
        'name="sample_size"' in text
        and 'id="f-sample_size" name="sample_size" type="text" value="200"' in text
    )
    assert 'id="f-seed" name="seed" type="text" value="0"' in text
    assert "runs the teacher <strong>without priors</strong>" in text
    plain = login("editor").get("/jobs/new").text
    assert re.search(r'value="pseudo_label"\s+checked', plain) and not re.search(
        r'value="survey"\s+checked', plain
    )


def test_submitting_a_survey_queues_it_without_a_mapping_version(  # type: ignore[no-untyped-def]
    login, registry: Registry, sent
) -> None:
    browser = login("editor")
    r = browser.post("/jobs/new", _survey_form(registry, split="val", name="look at streets"))
    assert r.status_code == 303, unescape(r.text)
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert sent == [(TASK_PSEUDO_LABEL, {"job_id": job_id})]  # the sharded task, like the API's
    job = browser.get(f"/api/v1/jobs/{job_id}").json()
    assert job["kind"] == "survey" and job["mapping_version_id"] is None and job["name"] == "look at streets"
    assert (
        job["params"]["sample_size"] == 3 and job["params"]["seed"] == 7 and job["params"]["split"] == "val"
    )
    assert "use_priors" not in job["params"] and "threshold" not in job["params"]
    default = browser.post("/jobs/new", _survey_form(registry, sample_size="", seed=""))
    assert default.status_code == 303
    job = browser.get(default.headers["location"].replace("/jobs/", "/api/v1/jobs/")).json()
    assert job["params"]["sample_size"] == 200 and job["params"]["seed"] == 0  # the API's defaults


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"sample_size": "0"}, "sample_size", "greater than or equal to 1"),
        ({"sample_size": "100001"}, "sample_size", "less than or equal to 100000"),
        ({"sample_size": "many"}, "sample_size", "'many' is not a number"),
        ({"seed": "-1"}, "seed", "greater than or equal to 0"),
        ({"split": "test"}, "split", "dataset 'streets' has no split 'test' (it has 'train', 'val')"),
        ({"model_id": "999"}, "model_id", "999"),
        ({"model_id": ""}, "model_id", "choose a value"),
        ({"output_name": "../x"}, "output_name", "cannot be an output name"),
    ],
)
def test_a_bad_survey_field_is_refused_under_its_field(  # type: ignore[no-untyped-def]
    login, registry: Registry, sent, session_factory: sessionmaker[Session], overrides, field, words
) -> None:
    r = login("editor").post("/jobs/new", _survey_form(registry, **overrides))
    assert 400 <= r.status_code < 500, r.status_code
    messages = _messages(r.text)
    assert field in messages and words in messages[field], messages
    assert "mapping_version_id" not in messages  # a survey takes none
    assert re.search(r'value="survey"\s+checked', r.text)  # the kind is kept
    assert sent == [] and _job_ids(session_factory) == []
