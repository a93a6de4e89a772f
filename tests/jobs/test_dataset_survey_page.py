"""Survey a dataset from its page (issue 15): the form (editors), the submitted survey job, refusals
said on the dataset's page."""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from tests.jobs.experiment_results_world import evaluation_json
from worker.demo import TARGET

STRONG = [[95, 5, 0, 0, 0], [5, 35, 0, 0, 0], [0, 0, 60, 0, 0], [0, 0, 0, 50, 0]]  # mIoU 0.92

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
    target = world["target"]["name"]
    assert f'<option value="{model["id"]}">{model["name"]} · {target} · not evaluated</option>' in form
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
    # the toast counts what the survey will take: the dataset's last scan says val has 2 images
    assert f"Surveying all 2 labelled images of the val split (asked for 3) as job {job_id}." in page
    for sample, split, words in (
        ("200", "", "all 4 labelled images of the dataset (asked for 200)"),
        ("1", "val", "1 of the 2 labelled images of the val split"),
    ):
        r = client.post(url, data=body | {"sample_size": sample, "split": split}, headers=editor)
        assert f"Surveying {words} as job" in html.unescape(r.text)


def test_teachers_a_mapping_fits_come_first_with_their_taxonomy_and_miou(
    client: TestClient,
    editor: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    dataset_id, model = world["dataset"]["id"], world["model"]
    # the same four classes under another taxonomy, which no mapping from the dataset's taxonomy targets
    labels = [{"value": lb.value, "name": lb.name} for lb in TARGET.labels]
    twin = client.post("/api/v1/taxonomies", json={"name": "twin-4", "labels": labels}, headers=editor)
    assert twin.status_code == 201, twin.text
    spec = {"name": "a-other", "source": "folder", "spec": model["spec"], "taxonomy_id": twin.json()["id"]}
    other = client.post("/api/v1/models", json=spec, headers=editor)
    assert other.status_code == 201, other.text
    with session_factory() as s:
        s.add(
            Job(
                kind="evaluate",
                status="succeeded",
                params_json="{}",
                dataset_id=dataset_id,
                model_id=model["id"],
                result_json=json.dumps(evaluation_json(STRONG)),
            )
        )
        s.commit()
    form = html.unescape(client.get(f"/datasets/{dataset_id}/survey-form", headers=editor | HX).text)
    fitting, rest = form.split('<optgroup label="Other models')
    assert '<optgroup label="Teachers of a target this dataset is mapped to">' in fitting
    assert f"{model['name']} · {world['target']['name']} · mIoU 0.92</option>" in fitting
    assert "a-other · twin-4 · not evaluated</option>" in rest and "a-other" not in fitting
    assert "The dataset has 4 labelled images (last scan)" in form


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
