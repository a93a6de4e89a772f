"""Job summaries report every failed image (with its shard) and every image skipped for a missing label.

Jobs are run in-process through the Celery task functions themselves (plan -> shards -> finalize):
the publisher is replaced by a queue the test drains, so no broker or worker process is needed and
the tests run on SQLite and PostgreSQL like the other API tests.
"""

from __future__ import annotations

import html
from collections import deque
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.queue import TASK_PSEUDO_LABEL
from tests.jobs.conftest import approve_version

Headers = dict[str, str]

# The world dataset's pairs in dataset order (file names sorted): one image per shard with shard_size=1.
ORDER = ["images/train/0000.png", "images/train/0002.png", "images/val/0001.png", "images/val/0003.png"]


class InProcessQueue:
    """Stands in for the broker: every task published is queued here and run by :meth:`drain`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, factory: sessionmaker[Session]) -> None:
        from worker import context, tasks
        from worker.celery_app import celery_app

        assert tasks.pseudo_label.name in celery_app.tasks  # importing worker.tasks registered them

        self.celery_app = celery_app
        self.pending: deque[tuple[str, dict[str, Any]]] = deque()
        monkeypatch.setattr(context, "_factory", factory)
        monkeypatch.setattr("app.queue.send_task", self._publish)  # the outbox's publisher
        monkeypatch.setattr(celery_app, "send_task", self._send)

    def _publish(self, name: str, queue: str | None = None, **kwargs: Any) -> None:
        self.pending.append((name, kwargs))

    def _send(self, name: str, kwargs: dict[str, Any] | None = None, **_options: Any) -> None:
        self.pending.append((name, dict(kwargs or {})))

    def drain(self) -> None:
        while self.pending:
            name, kwargs = self.pending.popleft()
            self.celery_app.tasks[name](**kwargs)


@pytest.fixture
def run_job(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    """Submit a pseudo-label job over the world dataset through the API and run it to the end."""
    approve_version(client, editor, reviewer, world["mapping"])
    queue = InProcessQueue(monkeypatch, session_factory)

    def run(**params: Any) -> dict[str, Any]:
        body = {
            "params": {
                "kind": "pseudo_label",
                "model_id": world["model"]["id"],
                "dataset_id": world["dataset"]["id"],
                "mapping_version_id": world["mapping"]["current_version"]["id"],
                "tta": False,
                **params,
            }
        }
        r = client.post("/api/v1/jobs", json=body, headers=editor)
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]
        assert queue.pending == deque([(TASK_PSEUDO_LABEL, {"job_id": job_id})])
        queue.drain()
        job = client.get(f"/api/v1/jobs/{job_id}", headers=editor).json()
        assert job["status"] in ("succeeded", "failed", "cancelled"), job
        return dict(job)

    return run


def _corrupt(root: Path) -> None:
    """Shard 0's image is a truncated PNG (decode fails), shard 2's is not an image (header fails)."""
    truncated = root / ORDER[0]
    truncated.write_bytes(truncated.read_bytes()[:120])
    (root / ORDER[2]).write_bytes(b"this is not a PNG file")


def test_summary_lists_the_failed_images_of_every_shard(
    client: TestClient, editor: Headers, world: dict[str, Any], run_job: Any
) -> None:
    _corrupt(world["root"])
    job = run_job(shard_size=1)
    assert job["status"] == "succeeded" and job["shard_count"] == 4
    summary = client.get(f"/api/v1/jobs/{job['id']}/summary", headers=editor).json()
    assert summary["images"] == 4 and summary["images_ok"] == 2 and summary["images_failed"] == 2
    errors = summary["errors"]
    assert [(e["image"], e["shard"]) for e in errors] == [(ORDER[0], 0), (ORDER[2], 2)]
    assert all(e["error_type"] == "unreadable image" for e in errors)
    assert "truncated" in errors[0]["error"] and "cannot identify image file" in errors[1]["error"]
    assert errors[0]["label"] == "labels/train/0000.png"
    # The job row's result (GET /jobs/{id}) carries the same list and counts.
    assert job["result"]["images_failed"] == 2 and job["result"]["errors"] == errors
    assert "2 failed" in job["message"]
    page = html.unescape(client.get(f"/jobs/{job['id']}", headers=editor).text)
    assert 'id="job-' in page and "Failed images" in page
    for e in errors:
        assert e["image"] in page and e["error"] in page
    assert "{'image'" not in page  # a readable table, not a Python repr


def test_label_deleted_after_the_scan_is_reported_as_skipped(
    client: TestClient, editor: Headers, world: dict[str, Any], run_job: Any
) -> None:
    dataset = client.get(f"/api/v1/datasets/{world['dataset']['id']}", headers=editor).json()
    assert dataset["pair_count"] == 4  # the scan at registration saw every label
    (world["root"] / "labels" / "val" / "0003.png").unlink()
    job = run_job(shard_size=2)
    assert job["status"] == "succeeded"
    summary = client.get(f"/api/v1/jobs/{job['id']}/summary", headers=editor).json()
    assert summary["images"] == 3 and summary["images_ok"] == 3 and summary["images_failed"] == 0
    assert summary["images_skipped"] == summary["images_skipped_missing_label"] == 1
    assert summary["skipped"] == [
        {"image": ORDER[3], "label": "labels/val/0003.png", "reason": "label missing"}
    ]
    assert job["result"]["skipped"] == summary["skipped"] and "1 skipped" in job["message"]
    logs = client.get(f"/api/v1/jobs/{job['id']}/logs", headers=editor).json()["lines"]
    assert any("label missing" in line["message"] for line in logs)
    page = html.unescape(client.get(f"/jobs/{job['id']}", headers=editor).text)
    assert "Skipped: label missing" in page and ORDER[3] in page and "labels/val/0003.png" in page


def test_split_job_reports_only_the_skips_of_its_split(
    client: TestClient, editor: Headers, world: dict[str, Any], run_job: Any
) -> None:
    (world["root"] / "labels" / "val" / "0003.png").unlink()
    (world["root"] / "labels" / "train" / "0002.png").unlink()
    job = run_job(split="train")
    summary = client.get(f"/api/v1/jobs/{job['id']}/summary", headers=editor).json()
    assert summary["images"] == 1 and [s["image"] for s in summary["skipped"]] == [ORDER[1]]


def test_every_label_missing_still_gives_a_summary(
    client: TestClient, editor: Headers, world: dict[str, Any], run_job: Any
) -> None:
    for label in (world["root"] / "labels").rglob("*.png"):
        label.unlink()
    job = run_job()
    assert job["status"] == "succeeded" and job["result"]["images"] == 0
    summary = client.get(f"/api/v1/jobs/{job['id']}/summary", headers=editor).json()
    assert summary["images_skipped_missing_label"] == 4
    assert sorted(s["image"] for s in summary["skipped"]) == sorted(ORDER)


def test_worst_first_review_lists_failed_images_first(
    client: TestClient, editor: Headers, world: dict[str, Any], run_job: Any
) -> None:
    _corrupt(world["root"])
    job = run_job(shard_size=2)
    worst = client.get(f"/api/v1/jobs/{job['id']}/manifest?worst_first=true", headers=editor).json()
    statuses = [r["status"] for r in worst["items"]]
    assert statuses == ["error", "error", "ok", "ok"], worst["items"]
    assert [r["image"] for r in worst["items"][:2]] == [ORDER[0], ORDER[2]]
    rates = [r["correction_rate"] for r in worst["items"][2:]]
    assert rates == sorted(rates, reverse=True)
    review = html.unescape(client.get(f"/jobs/{job['id']}/review", headers=editor).text)
    cards = [review.index(f'aria-label="{image}"') for image in ORDER]
    assert max(cards[0], cards[2]) < min(cards[1], cards[3])
    assert "unreadable image" in review and "truncated" in review


def test_a_failed_shard_leaves_its_images_missing_and_the_others_errors_listed(
    client: TestClient, editor: Headers, world: dict[str, Any], run_job: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.domain.errors import DomainError
    from worker import steps

    run_shard = steps.run_shard

    def shard_3_breaks(job: Any, recorder: Any) -> dict[str, Any]:
        if job.shard_index == 3:
            raise DomainError("teacher exploded (simulated)")
        return run_shard(job, recorder)

    monkeypatch.setattr(steps, "run_shard", shard_3_breaks)
    _corrupt(world["root"])
    job = run_job(shard_size=1)
    assert job["status"] == "failed" and "1 of 4 shard(s) failed" in job["error"]
    result = job["result"]
    assert (result["images_ok"], result["images_failed"], result["images_missing"]) == (1, 2, 1)
    assert [(e["image"], e["shard"]) for e in result["errors"]] == [(ORDER[0], 0), (ORDER[2], 2)]
    page = html.unescape(client.get(f"/jobs/{job['id']}", headers=editor).text)
    assert "Failed images" in page and ORDER[0] in page and "teacher exploded" in page
    worst = client.get(f"/api/v1/jobs/{job['id']}/manifest?worst_first=true", headers=editor).json()
    assert [r["status"] for r in worst["items"]] == ["error", "error", "missing", "ok"]
    review = html.unescape(client.get(f"/jobs/{job['id']}/review", headers=editor).text)
    assert "not labelled" in review and "its shard failed or was cancelled" in review
