"""Per-image review API (issue 12): decide, read, list with counts, bulk reject; roles, bad input,
compare-and-set under concurrent requests (both databases), and decisions across re-runs.

The run's outputs are a hand-written ``manifest.jsonl`` with real pseudo-label PNG files (the label
hash is the file's sha256).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import Base
from app.db.models import ImageReview

Headers = dict[str, str]
IMAGES = 10
RACERS = 6


def review_url(job_id: int, image: str) -> str:
    return f"/api/v1/jobs/{job_id}/images/{image}/review"


def write_run(out: Path, images: int = IMAGES) -> list[dict[str, Any]]:
    """A manifest of ``images`` labelled images (correction rate i/10, void share i/20) and one
    failed image; each label file holds distinct bytes."""
    records: list[dict[str, Any]] = []
    for i in range(images):
        output = f"train/{i:04d}.png"
        label = out / "labels" / output
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_bytes(b"label-%d" % i)
        records.append({"image": f"images/train/{i:04d}.png", "label": f"labels/{output}",
                        "output": output, "status": "ok", "correction_rate": i / 10,
                        "void_fraction": i / 20, "warnings": []})  # fmt: skip
    records.append({"image": "images/val/bad.png", "label": None, "status": "error",
                    "error_type": "unreadable image", "error": "truncated"})  # fmt: skip
    (out / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


@pytest.fixture
def snapshot(session_factory: sessionmaker[Session]) -> Callable[[], dict[str, int]]:
    """Row counts of every table, to prove a refused request changed nothing."""

    def take() -> dict[str, int]:
        with session_factory() as s:
            return {
                t.name: s.scalar(select(func.count()).select_from(t)) or 0
                for t in Base.metadata.sorted_tables
            }

    return take


@pytest.fixture
def run(client: TestClient, editor: Headers, world: dict[str, Any], sent: list[Any]) -> dict[str, Any]:
    params = {
        "kind": "pseudo_label",
        "model_id": world["model"]["id"],
        "dataset_id": world["dataset"]["id"],
        "mapping_version_id": world["mapping"]["current_version"]["id"],
        "allow_unapproved": True,
        "override_reason": "review test",
    }
    r = client.post("/api/v1/jobs", json={"params": params}, headers=editor)
    assert r.status_code == 201, r.text
    out = Path(r.json()["output_dir"])
    write_run(out)
    return {"id": int(r.json()["id"]), "out": out}


def _put(client: TestClient, headers: Headers, job_id: int, image: str, **body: Any) -> Any:
    return client.put(review_url(job_id, image), json=body, headers=headers)


def test_editor_decides_reader_reads_and_list_counts_and_filters(
    client: TestClient, editor: Headers, viewer: Headers, run: dict[str, Any]
) -> None:
    job = run["id"]
    first = "images/train/0001.png"
    r = client.get(review_url(job, first), headers=viewer)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "unreviewed" and r.json()["version"] == 0 and r.json()["label_hash"]
    r = _put(client, editor, job, first, decision="accepted", base_version=0, note="  looks right ")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "accepted" and body["version"] == 1 and body["note"] == "looks right"
    assert body["author"] and body["updated_at"] and not body["stale"]
    r = _put(client, editor, job, first, decision="rejected", base_version=1)
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["note"] is None, r.text
    assert _put(client, editor, job, "images/train/0002.png", decision="flagged", base_version=0).is_success
    listing = client.get(f"/api/v1/jobs/{job}/reviews", headers=viewer).json()
    assert listing["counts"] == {"accepted": 0, "rejected": 1, "flagged": 1, "unreviewed": IMAGES - 1}
    assert listing["total"] == IMAGES + 1  # the failed image is listed, unreviewed
    flagged = client.get(f"/api/v1/jobs/{job}/reviews?state=flagged", headers=viewer).json()
    assert [it["image"] for it in flagged["items"]] == ["images/train/0002.png"] and flagged["total"] == 1


def test_roles_are_checked_before_the_input(
    client: TestClient, viewer: Headers, run: dict[str, Any], snapshot: Callable[[], dict[str, int]]
) -> None:
    job, before = run["id"], snapshot()
    bad = {"decision": "maybe", "base_version": -3}
    r = client.put(review_url(job, "images/train/0001.png"), json=bad, headers=viewer)
    assert r.status_code == 403, r.text
    r = client.post(f"/api/v1/jobs/{job}/reviews/bulk-reject", json={"void_above": 7}, headers=viewer)
    assert r.status_code == 403, r.text
    assert client.get(f"/api/v1/jobs/{job}/reviews").status_code == 401
    assert snapshot() == before


@pytest.mark.parametrize(
    ("image", "body", "status", "field"),
    [
        ("images/train/0001.png", {"decision": "maybe", "base_version": 0}, 422, None),
        ("images/train/0001.png", {"decision": "accepted", "base_version": -1}, 422, None),
        ("images/train/0001.png", {"decision": "accepted"}, 422, None),
        ("images/train/0001.png", {"decision": "accepted", "base_version": 0, "note": "x" * 2001}, 422, None),
        ("images/train/0001.png", {"decision": "accepted", "base_version": 0, "extra": 1}, 422, None),
        ("images/train/0001.png", {"decision": "flagged", "base_version": 0, "note": "a\x00b"}, 422, None),
        ("images/train/nope.png", {"decision": "accepted", "base_version": 0}, 404, "image"),
        ("images/val/bad.png", {"decision": "accepted", "base_version": 0}, 422, "image"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    client: TestClient,
    editor: Headers,
    run: dict[str, Any],
    snapshot: Callable[[], dict[str, int]],
    image: str,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    before = snapshot()
    r = client.put(review_url(run["id"], image), json=body, headers=editor)
    assert r.status_code == status, r.text
    assert r.json()["error"]["message"]
    if field:
        assert r.json()["error"]["field"] == field
    assert snapshot() == before


def test_bad_queries_and_other_jobs_are_refused(
    client: TestClient, editor: Headers, run: dict[str, Any]
) -> None:
    job = run["id"]
    assert client.get(f"/api/v1/jobs/{job}/reviews?state=bogus", headers=editor).status_code == 422
    assert client.get(f"/api/v1/jobs/{job}/reviews?limit=0", headers=editor).status_code == 422
    assert client.get("/api/v1/jobs/999999/reviews", headers=editor).status_code == 404
    r = client.get(review_url(999999, "images/x.png"), headers=editor)
    assert r.status_code == 404 and r.json()["error"]["field"] == "job_id"
    r = client.post(f"/api/v1/jobs/{job}/reviews/bulk-reject", json={}, headers=editor)
    assert r.status_code == 422 and "correction_above or void_above" in r.json()["error"]["message"]
    r = client.post(f"/api/v1/jobs/{job}/reviews/bulk-reject", json={"void_above": 1.5}, headers=editor)
    assert r.status_code == 422


def test_stale_version_is_a_conflict_naming_the_stored_decision(
    client: TestClient, editor: Headers, run: dict[str, Any]
) -> None:
    job, image = run["id"], "images/train/0003.png"
    assert _put(client, editor, job, image, decision="flagged", base_version=0).status_code == 200
    r = _put(client, editor, job, image, decision="accepted", base_version=0)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["field"] == "base_version" and "flagged at version 1" in error["message"]
    assert _put(client, editor, job, image, decision="accepted", base_version=5).status_code == 409


def _race(work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(RACERS)
    results: list[Any] = [None] * RACERS

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # recorded for the assertion
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _decide_racing(
    clients: list[TestClient], editor: Headers, job: int, image: str, base: int, i: int
) -> Any:
    decision = ("accepted", "rejected", "flagged")[i % 3]
    return _put(clients[i], editor, job, image, decision=decision, base_version=base)


@pytest.mark.timeout(180)
def test_concurrent_decisions_compare_and_set_one_wins(
    app: FastAPI, editor: Headers, run: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    job, image = run["id"], "images/train/0004.png"
    clients = [TestClient(app) for _ in range(RACERS)]
    for base in (0, 1, 2):  # first decision (racing inserts), then two racing updates
        results = _race(partial(_decide_racing, clients, editor, job, image, base))
        codes = sorted(getattr(r, "status_code", r) for r in results)
        assert codes == [200] + [409] * (RACERS - 1), (base, results)
        winner = next(r for r in results if r.status_code == 200).json()
        assert winner["version"] == base + 1
    with session_factory() as s:
        rows = s.scalars(select(ImageReview).where(ImageReview.job_id == job)).all()
        assert len(rows) == 1 and rows[0].version == 3


def test_decision_survives_a_rerun_with_the_same_label_and_goes_stale_otherwise(
    client: TestClient, editor: Headers, viewer: Headers, run: dict[str, Any]
) -> None:
    job, out = run["id"], run["out"]
    for i, decision in ((1, "rejected"), (2, "accepted")):
        assert _put(
            client, editor, job, f"images/train/{i:04d}.png", decision=decision, base_version=0
        ).is_success
    write_run(out)  # a re-run writing the same labels (new files, same bytes)
    (out / "labels/train/0002.png").write_bytes(b"a different label")  # ... but for one image
    counts = client.get(f"/api/v1/jobs/{job}/reviews", headers=viewer).json()["counts"]
    assert counts["rejected"] == 1 and counts["accepted"] == 0
    stale = client.get(review_url(job, "images/train/0002.png"), headers=viewer).json()
    assert stale["state"] == "unreviewed" and stale["stale"] and stale["decision"] == "accepted"
    r = _put(client, editor, job, "images/train/0002.png", decision="flagged", base_version=stale["version"])
    assert r.status_code == 200 and r.json()["state"] == "flagged" and not r.json()["stale"]


def test_bulk_reject_previews_then_applies_leaving_decided_images(
    client: TestClient, editor: Headers, run: dict[str, Any], session_factory: sessionmaker[Session]
) -> None:
    job = run["id"]
    url = f"/api/v1/jobs/{job}/reviews/bulk-reject"
    # correction rate i/10 above 0.65: images 7, 8, 9; void share i/20 above 0.42: image 9 again
    assert _put(client, editor, job, "images/train/0008.png", decision="accepted", base_version=0).is_success
    rule = {"correction_above": 0.65, "void_above": 0.42}
    preview = client.post(url, json=rule, headers=editor)  # dry_run is the default
    assert preview.status_code == 200, preview.text
    p = preview.json()
    assert (p["dry_run"], p["matched"], p["rejected"], p["kept"]) == (True, 3, 2, 1)
    assert p["images"] == ["images/train/0007.png", "images/train/0009.png"]
    assert "correction rate above 65%" in p["rule"]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ImageReview)) == 1  # a preview stores nothing
    applied = client.post(url, json=rule | {"dry_run": False}, headers=editor).json()
    assert (applied["dry_run"], applied["rejected"], applied["images"]) == (False, 2, p["images"])
    counts = client.get(f"/api/v1/jobs/{job}/reviews", headers=editor).json()["counts"]
    assert counts["rejected"] == 2 and counts["accepted"] == 1
    again = client.post(url, json=rule, headers=editor).json()
    assert (again["matched"], again["rejected"], again["kept"]) == (3, 0, 3)


def test_an_update_run_inherits_the_decisions_of_the_images_it_carried_over(
    client: TestClient,
    editor: Headers,
    viewer: Headers,
    run: dict[str, Any],
    session_factory: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    """Issue 12: decisions survive a re-run (here an incremental update) when the label did not change."""
    from app.db.models_registry import Job

    old = run["id"]
    for i, decision in ((1, "rejected"), (2, "rejected"), (3, "accepted")):
        image = f"images/train/{i:04d}.png"
        assert _put(client, editor, old, image, decision=decision, base_version=0).is_success
    out = tmp_path / "update"
    write_run(out)  # carried over: the same label bytes ...
    (out / "labels/train/0002.png").write_bytes(b"re-labelled by the update")  # ... but image 2
    with session_factory() as s:
        source = s.get(Job, old)
        assert source is not None
        params = {**json.loads(source.params_json), "update_from_job_id": old}
        job = Job(kind="pseudo_label", status="succeeded", params_json=json.dumps(params),
                  dataset_id=source.dataset_id, model_id=source.model_id, output_dir=str(out))  # fmt: skip
        s.add(job)
        s.commit()
        new = job.id
    body = client.get(f"/api/v1/jobs/{new}/reviews", headers=viewer).json()
    assert body["counts"]["rejected"] == 1 and body["counts"]["accepted"] == 1  # image 2 went stale
    stale = client.get(review_url(new, "images/train/0002.png"), headers=viewer).json()
    assert stale["stale"] and stale["state"] == "unreviewed"
    # Changing an inherited decision writes the update run's own; the old run keeps its own.
    inherited = client.get(review_url(new, "images/train/0003.png"), headers=viewer).json()
    r = _put(
        client, editor, new, "images/train/0003.png", decision="flagged", base_version=inherited["version"]
    )
    assert r.status_code == 200 and r.json()["state"] == "flagged", r.text
    assert client.get(review_url(old, "images/train/0003.png"), headers=viewer).json()["state"] == "accepted"
    stale_base = _put(client, editor, new, "images/train/0001.png", decision="accepted", base_version=0)
    assert stale_base.status_code == 409  # the inherited decision is at version 1
