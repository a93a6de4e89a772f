"""Survey jobs through the API: submission (roles, refusals before anything is sent), data evidence in
the suggestions and the mapping audit, with a stored survey result (no worker needed)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.db.models_registry import Job
from app.queue import TASK_PSEUDO_LABEL
from tests.jobs.conftest import StoredSurvey

Headers = dict[str, str]


def survey_body(world: dict[str, Any], **extra: Any) -> dict[str, Any]:
    params = {"kind": "survey", "model_id": world["model"]["id"], "dataset_id": world["dataset"]["id"]}
    return {"params": params | extra}


def test_submitting_a_survey_queues_the_sharded_task_after_checks_and_roles(
    client: TestClient, viewer: Headers, editor: Headers, world: dict[str, Any], sent: list[Any]
) -> None:
    r = client.post("/api/v1/jobs", json=survey_body(world), headers=viewer)
    assert r.status_code == 403 and sent == []
    r = client.post("/api/v1/jobs", json=survey_body(world, model_id=999), headers=editor)
    assert r.status_code == 404 and "model 999" in r.text and sent == []
    r = client.post("/api/v1/jobs", json=survey_body(world, sample_size=0), headers=editor)
    assert r.status_code == 422 and sent == []
    r = client.post(
        "/api/v1/jobs", json=survey_body(world, sample_size=3, seed=7, split="val"), headers=editor
    )
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["kind"] == "survey" and job["mapping_version_id"] is None
    assert job["output_dir"].endswith(f"outputs/job-{job['id']}")
    assert job["params"]["sample_size"] == 3 and job["params"]["seed"] == 7
    assert sent == [(TASK_PSEUDO_LABEL, {"job_id": job["id"]})]


def test_suggestions_with_a_survey_show_data_evidence(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    r = client.get(
        f"/api/v1/mappings/{mapping_id}/suggestions?survey_job_id={job_id}&label=car", headers=viewer
    )
    assert r.status_code == 200, r.text
    (car,) = r.json()["labels"]
    best = car["suggestions"][0]
    assert best["target_name"] == "vegetation" and best["key"] == "2:car"
    (data,) = [e for e in best["evidence"] if e["kind"] == "data"]
    assert data["message"] == (
        "data: 78% of this label's pixels are predicted `vegetation`, 22% `void`, 0.1% `vehicle`; "
        "10.0 k px over 9 images (`vegetation`: 2.5x as often as on the other labels)"
    )
    assert data["strength"] == 0.78 and data["facts"]["pixels"] == 7800
    assert data["facts"]["contrast"] == 2.46  # 78 % here, 9,500 of 30,000 px on the other labels
    assert data["refs"] == [f"survey job {job_id} (0 images)"]
    plain = client.get(f"/api/v1/mappings/{mapping_id}/suggestions?label=car", headers=viewer).json()
    assert all(e["kind"] != "data" for s in plain["labels"][0]["suggestions"] for e in s["evidence"])


def test_data_min_share_lets_a_thin_target_be_data_evidence(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    """Road gives 0.3 % of its pixels to vehicle (a manhole on a road is as thin): no data evidence at
    the default floor 0.005, evidence with ``data_min_share=0.001``; a bad value is a 422 naming it.
    Its 9.7 % void is never evidence: the other labels get void more often (contrast 0.6)."""
    job_id = stored_survey()
    url = f"/api/v1/mappings/{world['mapping']['id']}/suggestions?survey_job_id={job_id}&label=road&limit=20"

    def data_evidence(query: str = "") -> dict[str, float]:
        r = client.get(url + query, headers=viewer)
        assert r.status_code == 200, r.text
        (road,) = r.json()["labels"]
        return {
            s["target_name"]: e["strength"]
            for s in road["suggestions"]
            for e in s["evidence"]
            if e["kind"] == "data"
        }

    assert data_evidence() == {"drivable": 0.9}
    assert data_evidence("&data_min_share=0.005") == data_evidence()
    assert data_evidence("&data_min_share=0.001") == {"drivable": 0.9, "vehicle": 0.003}
    for bad in ("-0.1", "1.5", "abc", ""):
        r = client.get(f"{url}&data_min_share={bad}", headers=viewer)
        assert r.status_code == 422 and "data_min_share" in r.text, (bad, r.text)


def test_audit_flags_contradicted_unused_and_void_confident_edges(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    job_id = stored_survey()
    mapping_id = world["mapping"]["id"]
    r = client.get(f"/api/v1/mappings/{mapping_id}/audit?survey_job_id={job_id}", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    found = [(f["kind"], f["source_name"], f["add"], f["remove"]) for f in body["findings"]]
    assert found == [
        ("void_confident", "unlabeled", [3], [255]),
        ("contradicted", "car", [2], [1]),
    ]
    assert body["version"] == 1 and body["survey_provenance"]["sample"] == {"seed": 0}
    assert body["unseen_labels"] == ["sidewalk", "truck", "tree", "sky"]
    assert "78% are predicted `vegetation`:" in body["findings"][1]["message"]
    page = client.get(f"/jobs/{job_id}", headers=viewer)  # the job page shows a survey like any job
    assert page.status_code == 200 and "survey" in page.text
    strict = client.get(
        f"/api/v1/mappings/{mapping_id}/audit?survey_job_id={job_id}&void_confident_min=0.9", headers=viewer
    ).json()
    assert [f["kind"] for f in strict["findings"]] == ["contradicted"]


def test_a_thin_edge_the_data_supports_is_not_unused_unless_asked(
    client: TestClient,
    viewer: Headers,
    world: dict[str, Any],
    stored_survey: StoredSurvey,
) -> None:
    """Sidewalk -> drivable + vehicle: vehicle gets 1 % of sidewalk's pixels, but 10x as often as on
    the other labels (what the suggestions propose at their default floor): not unused by default;
    ``unused_contrast=0`` turns the exception off, a negative value is a 422 naming it. Road ->
    drivable + vehicle, 0.3 %: under the suggestions' floor, so unused."""
    job_id = stored_survey(extra={"sidewalk": [9900, 100, 0, 0, 0]})
    names = [lb["name"] for lb in world["source"]["labels"]]
    mapping = world["post"](
        "/api/v1/mappings",
        {
            "name": "thin",
            "source_taxonomy_id": world["source"]["id"],
            "target_taxonomy_id": world["target"]["id"],
            "edges": [["road", 0], ["road", 1], ["sidewalk", 0], ["sidewalk", 1]]
            + [[n, 255] for n in names if n not in ("road", "sidewalk")],
        },
    )
    url = f"/api/v1/mappings/{mapping['id']}/audit?survey_job_id={job_id}"

    def unused(query: str = "") -> list[tuple[str, int]]:
        r = client.get(url + query, headers=viewer)
        assert r.status_code == 200, r.text
        assert r.json()["thresholds"]["unused_contrast"] == (float(query.split("=")[1]) if query else 2.0)
        return [(f["source_name"], f["target_id"]) for f in r.json()["findings"] if f["kind"] == "unused"]

    assert unused() == [("road", 1)]
    assert unused("&unused_contrast=0") == [("road", 1), ("sidewalk", 1)]
    assert unused("&unused_contrast=11") == [("road", 1), ("sidewalk", 1)]  # 10x is not 11x
    for bad in ("-1", "abc", "1e7"):
        r = client.get(f"{url}&unused_contrast={bad}", headers=viewer)
        assert r.status_code == 422 and "unused_contrast" in r.text, (bad, r.text)


def test_audit_and_suggestion_refusals(
    client: TestClient,
    viewer: Headers,
    editor: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    stored_survey: StoredSurvey,
    sent: list[Any],
) -> None:
    mapping_id = world["mapping"]["id"]
    url = f"/api/v1/mappings/{mapping_id}/audit"
    assert client.get(f"{url}?survey_job_id=1").status_code == 401
    assert client.get(url, headers=viewer).status_code == 422  # survey_job_id is required
    r = client.get(f"{url}?survey_job_id=999", headers=viewer)
    assert r.status_code == 404 and "job 999" in r.text
    done = stored_survey()
    assert client.get(f"{url}?survey_job_id={done}&version=9", headers=viewer).status_code == 404
    assert client.get(f"{url}?survey_job_id={done}&unused_max=1.5", headers=viewer).status_code == 422
    # the same ranges as the editor's Audit section (app.web.audit_query): min_pixels up to 10**12
    for bad in ("-1", str(10**12 + 1), "1e3", "many"):
        r = client.get(f"{url}?survey_job_id={done}&min_pixels={bad}", headers=viewer)
        assert r.status_code == 422 and "min_pixels" in r.text, (bad, r.text)
    assert client.get(f"{url}?survey_job_id=1&min_pixels=-1").status_code == 401  # who first, then what
    ok = client.get(f"{url}?survey_job_id={done}&min_pixels={10**12}", headers=viewer)
    assert (
        ok.status_code == 200
        and ok.json()["findings"] == []
        and ok.json()["thresholds"]["min_pixels"] == 10**12
    )
    scan = client.post(
        "/api/v1/jobs",
        json={"params": {"kind": "scan_dataset", "dataset_id": world["dataset"]["id"]}},
        headers=editor,
    ).json()
    r = client.get(f"{url}?survey_job_id={scan['id']}", headers=viewer)
    assert r.status_code == 422 and "not a survey" in r.text
    with session_factory() as s:
        row = s.get(Job, done)
        assert row is not None
        row.status = "running"
        s.commit()
    r = client.get(f"/api/v1/mappings/{mapping_id}/suggestions?survey_job_id={done}", headers=viewer)
    assert r.status_code == 409 and "running" in r.text
    other = world["post"](
        "/api/v1/mappings",
        {
            "name": "reverse",
            "source_taxonomy_id": world["target"]["id"],
            "target_taxonomy_id": world["target"]["id"],
            "edges": [],
        },
    )
    with session_factory() as s:
        row = s.get(Job, done)
        assert row is not None
        row.status = "succeeded"
        s.commit()
    r = client.get(f"/api/v1/mappings/{other['id']}/audit?survey_job_id={done}", headers=viewer)
    assert r.status_code == 422 and "survey_job_id" in r.text
