"""Incremental updates of a pseudo-label run (issue 12) through the API, run in-process.

A run pinned to mapping v1 goes stale when v2 changes an edge: ``GET /jobs/{id}/staleness`` counts
the images that contain the changed label; an update run re-labels exactly those, carries the others
over as hard links, and ends with the same label files and manifest records (apart from provenance)
as a full re-run with v2.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.cli import app as cli
from app.config import Settings
from tests.jobs.conftest import approve_version
from tests.jobs.test_cli_jobs import api, runner
from tests.jobs.test_summary_errors import InProcessQueue

__all__ = ["api"]  # the CLI's HTTP client is the app's TestClient (fixture)

Headers = dict[str, str]
TRUCK = 4  # the demo source's pixel value of 'truck'
COUNT = 12


@pytest.fixture
def streets(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """The world with a 12-image dataset, its mapping's v1 approved, and an in-process queue."""
    from worker.demo import make_dataset

    root = make_dataset(settings.data_dir / "streets12", count=COUNT, height=32, width=48, seed=3)
    dataset = world["post"](
        "/api/v1/datasets",
        {
            "name": "streets12",
            "taxonomy_id": world["source"]["id"],
            "root": str(root),
            "image_pattern": "images/{split}/{stem}.png",
            "label_template": "labels/{split}/{stem}.png",
            "splits": ["train", "val"],
        },
    )
    approve_version(client, editor, reviewer, world["mapping"])
    return world | {
        "dataset": dataset,
        "root": root,
        "queue": InProcessQueue(monkeypatch, session_factory),
        "v1": world["mapping"]["current_version"],
    }


def _submit(client: TestClient, headers: Headers, w: dict[str, Any], **params: Any) -> Any:
    body = {
        "kind": "pseudo_label",
        "model_id": w["model"]["id"],
        "dataset_id": w["dataset"]["id"],
        "mapping_version_id": w["v1"]["id"],
        "tta": False,
        "shard_size": 3,
        **params,
    }
    return client.post("/api/v1/jobs", json={"params": body}, headers=headers)


def _run(client: TestClient, headers: Headers, w: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = _submit(client, headers, w, **params)
    assert r.status_code == 201, r.text
    w["queue"].drain()
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=headers).json()
    assert job["status"] == "succeeded", job
    return dict(job)


def _new_version(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    w: dict[str, Any],
    targets: list[int],
    label: str = "truck",
) -> dict[str, Any]:
    """Map ``label`` to ``targets`` in a new version, submitted and approved."""
    mapping_id = w["mapping"]["id"]
    r = client.post(
        f"/api/v1/mappings/{mapping_id}/targets",
        json={"source_name": label, "target_ids": targets},
        headers={**editor, "If-Match": f'"{w["mapping"]["current_version"]["content_hash"]}"'},
    )
    assert r.status_code == 200, r.text
    version = dict(r.json())
    approve_version(client, editor, reviewer, {"id": mapping_id, "current_version": version})
    return version


def _images_with_truck(root: Path) -> set[str]:
    return {
        f"images/{p.parent.name}/{p.name}"
        for p in sorted((root / "labels").rglob("*.png"))
        if TRUCK in np.asarray(Image.open(p))
    }


def _records(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    lines = (Path(job["output_dir"]) / "manifest.jsonl").read_text().splitlines()
    return {r["image"]: r for r in map(json.loads, lines)}


def test_update_equals_a_full_rerun_and_relabels_only_the_affected_images(
    client: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(client, editor, w)
    affected = _images_with_truck(w["root"])
    assert 0 < len(affected) < COUNT  # the edge touches some images, not all

    r = client.get(f"/api/v1/jobs/{old['id']}/staleness", headers=editor)
    assert r.status_code == 200 and not r.json()["stale"], r.text
    assert r.json()["message"] == "not stale: no approved version newer than v1"

    v2 = _new_version(client, editor, reviewer, w, [2])  # truck: vehicle -> vegetation
    report = client.get(f"/api/v1/jobs/{old['id']}/staleness", headers=editor).json()
    assert report["stale"] and report["new_number"] == v2["number"] == 2
    assert report["changed_labels"] == ["truck"]
    assert report["changes"] == [{"name": "truck", "value": TRUCK, "old": [1], "new": [2]}]
    assert (report["affected_images"], report["total_images"]) == (len(affected), COUNT)
    assert report["message"] == (
        f"stale: {len(affected)} of {COUNT} images contain labels whose allowed set changed (truck)"
    )

    page = html.unescape(client.get(f"/jobs/{old['id']}", headers=editor).text)
    assert report["message"] in page and f"--update-from {old['id']} --mapping-version {v2['id']}" in page

    update = _run(client, editor, w, mapping_version_id=v2["id"], update_from_job_id=old["id"])
    full = _run(client, editor, w, mapping_version_id=v2["id"])
    page = html.unescape(client.get(f"/jobs/{update['id']}", headers=editor).text)
    assert f"job {old['id']}</a>: {len(affected)} re-labelled, {COUNT - len(affected)} carried over" in page
    assert update["result"]["images_relabelled"] == len(affected)
    assert update["result"]["images_carried_over"] == COUNT - len(affected)
    assert update["progress_total"] == len(affected)  # only the re-labelled images were labelled

    old_records, upd, ref = _records(old), _records(update), _records(full)
    assert list(upd) == list(ref) and len(upd) == COUNT
    old_dir, upd_dir, ref_dir = (Path(j["output_dir"]) for j in (old, update, full))
    for image, record in upd.items():
        provenance = record.pop("provenance")
        assert ref[image].pop("provenance")["relabelled"] is True
        assert record == ref[image], image
        for rel in record["files"]:  # labels/ and teacher/ PNGs
            assert (upd_dir / rel).read_bytes() == (ref_dir / rel).read_bytes(), rel
        carried = image not in affected
        assert provenance["relabelled"] is not carried
        assert provenance["mapping_hash"] == (w["v1"] if carried else v2)["content_hash"]
        assert provenance["tta_views"] == ["orig@1"] and provenance["code_version"]
        assert provenance["carried_from_job_id"] == (old["id"] if carried else None)
        assert provenance["labelled_in_job_id"] == (old["id"] if carried else update["id"])
        label = f"labels/{record['output']}"
        same_file = os.stat(upd_dir / label).st_ino == os.stat(old_dir / label).st_ino
        assert same_file is carried  # carried over as a hard link, never copied
        if not carried:  # truck pixels moved to class 2: the label did change
            assert (upd_dir / label).read_bytes() != (old_dir / label).read_bytes()
            assert record["histogram"] != old_records[image]["histogram"]

    upd_summary = client.get(f"/api/v1/jobs/{update['id']}/summary", headers=editor).json()
    ref_summary = client.get(f"/api/v1/jobs/{full['id']}/summary", headers=editor).json()
    for key in ("images", "images_ok", "pixels", "void_pixels", "corrected_pixels", "histogram_named"):
        assert upd_summary[key] == ref_summary[key], key
    assert upd_summary["mapping_hash"] == v2["content_hash"]

    # The update is a run like any other: it trains and exports.
    train = {"kind": "train", "train_sets": [{"kind": "pseudo_labels", "job_id": update["id"]}]}
    r = client.post("/api/v1/jobs", json={"params": train}, headers=editor)
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/jobs", json={"params": {"kind": "export", "job_id": update["id"]}}, headers=editor
    )
    assert r.status_code == 201, r.text


def test_update_with_no_affected_image_carries_everything_over(
    client: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(client, editor, w)
    # 'unlabeled' unmapped instead of mapped to void: a new version, the same allowed sets.
    v2 = _new_version(client, editor, reviewer, w, [], label="unlabeled")
    report = client.get(f"/api/v1/jobs/{old['id']}/staleness", headers=editor).json()
    assert not report["stale"] and report["changed_labels"] == []
    update = _run(client, editor, w, mapping_version_id=v2["id"], update_from_job_id=old["id"])
    assert update["shard_count"] == 0 and update["result"]["images_carried_over"] == COUNT
    assert update["result"]["images_ok"] == COUNT
    upd = _records(update)
    assert all(r["provenance"]["carried_from_job_id"] == old["id"] for r in upd.values())
    assert {k: {**r, "provenance": None} for k, r in upd.items()} == {
        k: {**r, "provenance": None} for k, r in _records(old).items()
    }


def test_update_refuses_mismatches_naming_each_field(
    client: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(client, editor, w)
    v2 = _new_version(client, editor, reviewer, w, [2])

    r = _submit(client, editor, w, update_from_job_id=old["id"])  # v1 again: not newer
    assert r.status_code == 422 and r.json()["error"]["field"] == "mapping_version_id", r.text
    assert "newer than job" in r.json()["error"]["message"]

    r = _submit(
        client, editor, w, mapping_version_id=v2["id"], update_from_job_id=old["id"], tta=True, split="val"
    )
    assert r.status_code == 422, r.text
    fields = {e["field"] for e in r.json()["error"]["details"]["errors"]}
    assert fields == {"tta", "split"}, r.text
    assert f"differs from job {old['id']}" in r.json()["error"]["message"]

    r = _submit(client, editor, w, mapping_version_id=v2["id"], update_from_job_id=999_999)
    assert r.status_code == 404 and r.json()["error"]["field"] == "update_from_job_id", r.text

    r = _submit(
        client, editor, w, mapping_version_id=v2["id"], update_from_job_id=old["id"], use_priors=False
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "use_priors", r.text

    # Not a pseudo-label run / not finished.
    queued = _submit(client, editor, w)
    assert queued.status_code == 201
    r = _submit(client, editor, w, mapping_version_id=v2["id"], update_from_job_id=queued.json()["id"])
    assert r.status_code == 409 and "queued" in r.json()["error"]["message"], r.text
    w["queue"].pending.clear()
    assert client.get("/api/v1/jobs", headers=editor).json()["total"] == 2  # nothing else was stored


def test_staleness_endpoint_checks_auth_and_inputs(
    client: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(client, editor, w)
    v2 = _new_version(client, editor, reviewer, w, [1, 255])  # truck may also be void now
    assert client.get(f"/api/v1/jobs/{old['id']}/staleness").status_code == 401
    assert client.get(f"/api/v1/jobs/{old['id']}/staleness?version_id=0", headers=editor).status_code == 422
    r = client.get(f"/api/v1/jobs/{old['id']}/staleness?version_id=999999", headers=editor)
    assert r.status_code == 404 and r.json()["error"]["field"] == "version_id", r.text
    assert client.get("/api/v1/jobs/999999/staleness", headers=editor).status_code == 404
    shard = client.get(f"/api/v1/jobs/{old['id']}", headers=editor).json()["shards"][0]["id"]
    r = client.get(f"/api/v1/jobs/{shard}/staleness", headers=editor)
    assert r.status_code == 422 and f"a shard of job {old['id']}" in r.json()["error"]["message"], r.text
    # An explicit version (here the approved v2; also drafts) is compared as asked.
    report = client.get(f"/api/v1/jobs/{old['id']}/staleness?version_id={v2['id']}", headers=editor).json()
    assert report["changes"] == [{"name": "truck", "value": TRUCK, "old": [1], "new": [1, 255]}]
    assert report["affected_images"] == len(_images_with_truck(w["root"]))
    other = w["post"](
        "/api/v1/mappings",
        {
            "name": "other",
            "source_taxonomy_id": w["source"]["id"],
            "target_taxonomy_id": w["target"]["id"],
            "edges": [["road", 0]],
        },
    )
    version = other["current_version"]["id"]
    r = client.get(f"/api/v1/jobs/{old['id']}/staleness?version_id={version}", headers=editor)
    assert r.status_code == 422 and r.json()["error"]["field"] == "version_id", r.text
    train = {"kind": "train", "train_sets": [{"kind": "pseudo_labels", "job_id": old["id"]}]}
    train_id = client.post("/api/v1/jobs", json={"params": train}, headers=editor).json()["id"]
    r = client.get(f"/api/v1/jobs/{train_id}/staleness", headers=editor)
    assert r.status_code == 422 and "not a pseudo_label run" in r.json()["error"]["message"], r.text


def test_cli_reports_staleness_and_submits_an_update(
    api: TestClient, editor: Headers, reviewer: Headers, streets: dict[str, Any]
) -> None:
    w = streets
    old = _run(api, editor, w, split="val", write_teacher=False)
    v2 = _new_version(api, editor, reviewer, w, [2])
    token = editor["Authorization"].split()[1]
    result = runner.invoke(cli, ["job", "staleness", str(old["id"]), "--token", token])
    assert result.exit_code == 0, result.output
    assert "images contain labels whose allowed set changed (truck)" in result.output
    assert "truck: [1] -> [2]" in result.output
    args = ["job", "submit", "--update-from", str(old["id"]), "--mapping-version", str(v2["id"])]
    result = runner.invoke(cli, [*args, "--no-watch", "--token", token])
    assert result.exit_code == 0, result.output
    job_id = int(result.output.split("submitted job ")[1].split()[0])
    w["queue"].drain()
    job = api.get(f"jobs/{job_id}").json()  # the CLI left the client's base URL at /api/v1/
    assert job["status"] == "succeeded", job
    params = job["params"]
    assert (params["update_from_job_id"], params["split"], params["write_teacher"]) == (
        old["id"],
        "val",
        False,
    )
    assert params["tta"] is False and params["model_id"] == old["model_id"]


def test_an_update_whose_planner_died_after_carrying_over_is_retried_from_scratch(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    streets: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The planner links the carried files before its commit; a re-plan redoes them (no 'exists')."""
    from worker import steps
    from worker.sharding import add_shards

    w = streets
    old = _run(client, editor, w)
    v2 = _new_version(client, editor, reviewer, w, [2])

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("planner killed after carrying over")

    monkeypatch.setattr(steps, "add_shards", killed)
    r = _submit(client, editor, w, mapping_version_id=v2["id"], update_from_job_id=old["id"])
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    with pytest.raises(RuntimeError, match="planner killed"):
        w["queue"].drain()
    job = client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()
    assert job["status"] == "failed" and (Path(job["output_dir"]) / "manifest.carried.jsonl").is_file()

    monkeypatch.setattr(steps, "add_shards", add_shards)
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=editor).status_code == 200
    w["queue"].drain()
    job = client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()
    assert job["status"] == "succeeded", job
    affected = _images_with_truck(w["root"])
    assert job["result"]["images_relabelled"] == len(affected) and job["result"]["images_ok"] == COUNT
    records = _records(job)
    assert {i for i, r in records.items() if r["provenance"]["relabelled"]} == affected
