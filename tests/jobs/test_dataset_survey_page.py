"""Survey a dataset from its page (issue 15): the form (editors), the submitted survey job, refusals
said on the dataset's page."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job

Headers = dict[str, str]
HX = {"HX-Request": "true"}


def test_the_form_is_for_editors_and_submits_a_survey_job(
    client: TestClient,
    viewer: Headers,
    editor: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    sent: list[Any],
) -> None:
    dataset_id, model = world["dataset"]["id"], world["model"]
    assert (
        f'hx-get="/datasets/{dataset_id}/survey-form"'
        in client.get(f"/datasets/{dataset_id}", headers=editor).text
    )
    assert "survey-form" not in client.get(f"/datasets/{dataset_id}", headers=viewer).text
    assert client.get(f"/datasets/{dataset_id}/survey-form", headers=viewer | HX).status_code == 403
    form = html.unescape(client.get(f"/datasets/{dataset_id}/survey-form", headers=editor | HX).text)
    assert f'<option value="{model["id"]}">{model["name"]}</option>' in form
    assert '<option value="val">val</option>' in form and 'value="200"' in form
    url = f"/datasets/{dataset_id}/survey"
    body = {"model_id": str(model["id"]), "sample_size": "3", "split": "val"}
    assert client.post(url, data=body, headers=viewer).status_code == 403
    r = client.post(url, data=body, headers=editor, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/"), r.text
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    with session_factory() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.kind == "survey" and job.dataset_id == dataset_id
        params = json.loads(job.params_json)
        assert params["sample_size"] == 3 and params["split"] == "val" and params["model_id"] == model["id"]
    assert len(sent) == 1
    page = html.unescape(client.get(r.headers["location"], headers=editor).text)
    assert f"Surveying 3 images as job {job_id}." in page


def test_refusals_are_said_on_the_dataset_page(
    client: TestClient, editor: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    dataset_id = world["dataset"]["id"]
    url = f"/datasets/{dataset_id}/survey"
    r = client.post(url, data={"model_id": "999"}, headers=editor, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/datasets/{dataset_id}"
    page = html.unescape(client.get(r.headers["location"], headers=editor).text)
    assert "model 999 does not exist" in page
    bad = client.post(url, data={"model_id": str(world["model"]["id"]), "sample_size": "0"}, headers=editor)
    assert bad.status_code == 422
    assert sent == []
