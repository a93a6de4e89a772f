"""Job bookkeeping without a worker: leases, progress recorder, bounded logs, recovery sweep, shard merge."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_registry import Job
from app.domain.jobs import Progress
from app.domain.pairing import Pair
from worker.progress import JobCancelled, JobProgressRecorder
from worker.sharding import merge_outputs, repair_shard, shard_bounds, write_pairs


def _job(factory: sessionmaker[Session], **values: Any) -> int:
    with factory() as s:
        job = Job(kind="pseudo_label", **values)
        s.add(job)
        s.commit()
        return job.id


def _get(factory: sessionmaker[Session], job_id: int) -> Job:
    with factory() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job


def test_only_one_worker_can_claim_a_job(session_factory: sessionmaker[Session]) -> None:
    job_id = _job(session_factory)
    stale = utcnow() - timedelta(seconds=60)
    with session_factory() as s:
        first = repo.claim_job(s, job_id, worker_host="a", device="cpu", stale_before=stale)
        second = repo.claim_job(s, job_id, worker_host="b", device="cpu", stale_before=stale)
        s.commit()
    assert first == 1 and second is None
    with session_factory() as s:  # the lease lapses: another worker may take over, with a new attempt
        third = repo.claim_job(
            s, job_id, worker_host="b", device="cpu", stale_before=utcnow() + timedelta(seconds=1)
        )
        assert third == 2 and not repo.touch_job(s, job_id, 1) and repo.touch_job(s, job_id, 2)
        s.commit()
    assert _get(session_factory, job_id).worker_host == "b"


def test_a_cancelled_job_cannot_be_claimed(session_factory: sessionmaker[Session]) -> None:
    job_id = _job(session_factory, cancel_requested=True)
    with session_factory() as s:
        assert repo.claim_job(s, job_id, worker_host="a", device="cpu", stale_before=utcnow()) is None


def test_recorder_throttles_never_goes_backwards_and_raises_when_cancelled(
    session_factory: sessionmaker[Session],
) -> None:
    parent = _job(session_factory, status="running", shard_count=2)
    shard = _job(session_factory, status="running", parent_id=parent, attempt=1)
    clock = iter([0.0, 0.1, 5.0, 10.0, 20.0]).__next__
    rec = JobProgressRecorder(session_factory, shard, 1, parent_id=parent, interval_s=1.0, clock=clock)
    rec(Progress(3, 10, "a"))
    rec(Progress(4, 10, "b"))  # within the interval: not written
    assert _get(session_factory, shard).progress_current == 3
    rec(Progress(2, 10, "c"))  # a resumed run reports less: the row keeps its maximum
    assert _get(session_factory, shard).progress_current == 4
    assert _get(session_factory, parent).progress_current == 4
    with session_factory() as s:
        s.get(Job, parent).cancel_requested = True  # type: ignore[union-attr]
        s.commit()
    with pytest.raises(JobCancelled):
        rec(Progress(6, 10, "d"))
    assert rec.should_stop()


def test_finalize_is_claimed_once_when_every_shard_is_terminal(
    session_factory: sessionmaker[Session],
) -> None:
    parent = _job(session_factory, status="running", shard_count=2)
    a = _job(session_factory, status="succeeded", parent_id=parent)
    b = _job(session_factory, status="running", parent_id=parent)
    with session_factory() as s:
        assert not repo.claim_finalize(s, parent)
        s.get(Job, b).status = "failed"  # type: ignore[union-attr]
        s.flush()
        assert repo.claim_finalize(s, parent) and not repo.claim_finalize(s, parent)
    assert a != b


def test_job_log_keeps_only_the_last_lines(session_factory: sessionmaker[Session]) -> None:
    job_id = _job(session_factory)
    with session_factory() as s:
        for i in range(30):
            repo.add_log(s, job_id, f"line {i}", keep=10)
        s.commit()
        lines = repo.list_logs(s, [job_id], limit=100)
    assert [x.message for x in lines] == [f"line {i}" for i in range(20, 30)]


def test_sweep_requeues_lapsed_leases_and_jobs_of_a_restarted_worker(
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker import recovery

    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: sent.append((name, kw)))
    old = utcnow() - timedelta(seconds=600)
    lapsed = _job(session_factory, status="running", attempt=1, heartbeat_at=old, worker_host="x@h")
    alive = _job(session_factory, status="running", attempt=1, heartbeat_at=utcnow(), worker_host="y@h")
    parent = _job(session_factory, status="running", shard_count=1)
    shard = _job(
        session_factory,
        status="running",
        attempt=1,
        parent_id=parent,
        heartbeat_at=utcnow(),
        worker_host="me@h",
    )
    assert recovery.sweep(session_factory, lease_s=60, restarted_host="me@h") == 2
    assert {kw["job_id"] for _, kw in sent} == {lapsed, shard}
    assert ("unilabel.pseudo_label_shard", {"job_id": shard}) in sent
    assert (
        _get(session_factory, lapsed).status == "queued" and _get(session_factory, alive).status == "running"
    )


def test_shard_repair_and_merge_give_every_image_once(tmp_path: Path) -> None:
    pairs = [Pair(f"images/{i}.png", f"labels/{i}.png") for i in range(5)]
    write_pairs(tmp_path, pairs)
    assert shard_bounds(5, 2) == [(0, 2), (2, 4), (4, 5)]
    labels = tmp_path / "labels" / "labels"
    labels.mkdir(parents=True)
    for i in range(5):
        (labels / f"{i}.png").write_bytes(b"x")
    (labels / ".3.png.abc.tmp").write_bytes(b"partial")
    ok = {"status": "ok", "pixels": 4, "void_pixels": 1, "non_void_pixels": 3, "corrected_pixels": 1}
    manifest = [{"image": f"images/{i}.png", "output": f"labels/{i}.png", **ok} for i in (0, 1, 2, 4)]
    manifest.append(manifest[0])  # a record repeated by a resumed run
    (tmp_path / "manifest.00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in manifest) + '{"torn')
    # image 3 was written but its record was lost with the killed worker: repair removes the file
    assert repair_shard(tmp_path, pairs, "00000", use_labels=True) == 1
    assert not (labels / "3.png").exists()
    (tmp_path / "summary.00000.json").write_text(
        json.dumps({"total": 5, "written": 4, "pixels": 16, "class_names": ["a"], "histogram": {}})
    )
    summary = merge_outputs(tmp_path, shard_tags=["00000"], source_names={}, unknown_row=None)
    records = [json.loads(x) for x in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [r["image"] for r in records] == [p.image for p in pairs]
    assert summary["images_ok"] == 4 and summary["images_missing"] == 1
