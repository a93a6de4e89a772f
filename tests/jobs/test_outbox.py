"""Transactional outbox: a committed job always reaches the broker; a rolled-back one never does.

No worker here: the publisher is a fake that records (or refuses) messages, or Celery's real client
pointed at a closed port. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from app import outbox, queue
from app.config import get_settings
from app.db import repositories_outbox as outbox_repo
from app.db import repositories_registry as job_repo
from app.db.base import utcnow
from app.db.models_outbox import OutboxMessage
from app.db.models_registry import Job
from app.db.session import unit_of_work
from app.schemas.jobs import PseudoLabelParams
from app.services import jobs as job_service
from tests.jobs.conftest import JobEnv, approve_version, make_demo
from tests.jobs.test_api import job_body
from worker import context, recovery, steps
from worker.progress import JobProgressRecorder, LeaseLost

Headers = dict[str, str]
CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


class Recorder:
    """A publisher that records every message, optionally failing while ``down`` is set."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[tuple[str, str | None, dict[str, Any]]] = []
        self.down = False
        self.delay_s = delay_s
        self._lock = threading.Lock()

    def __call__(self, name: str, queue_name: str | None, kwargs: dict[str, Any]) -> None:
        if self.down:
            raise ConnectionRefusedError("Error 111 connecting to the broker. Connection refused.")
        if self.delay_s:
            time.sleep(self.delay_s)
        with self._lock:
            self.calls.append((name, queue_name, kwargs))


def _messages(factory: sessionmaker[Session]) -> list[OutboxMessage]:
    with factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _later(seconds: float) -> Any:
    return utcnow() + timedelta(seconds=seconds)


def test_a_message_is_a_row_of_the_transaction_and_is_sent_after_commit(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(queue, "publish", recorder)
    with unit_of_work(session_factory) as s:
        queue.enqueue_after_commit(s, queue.TASK_SCAN_DATASET, queue="cpu", job_id=7)
        assert recorder.calls == []  # not before the commit
        with session_factory() as other:  # and invisible to others until then
            assert other.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert recorder.calls == [(queue.TASK_SCAN_DATASET, "cpu", {"job_id": 7})]
    [row] = _messages(session_factory)
    assert row.sent_at is not None and row.job_id == 7 and row.attempts == 1 and row.claimed_until is None


def test_a_rolled_back_transaction_leaves_no_message(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder()
    monkeypatch.setattr(queue, "publish", recorder)
    with pytest.raises(RuntimeError), unit_of_work(session_factory) as s:
        queue.enqueue_after_commit(s, queue.TASK_PING)
        raise RuntimeError("boom")
    assert recorder.calls == [] and _messages(session_factory) == []
    assert outbox.publish_pending(session_factory.kw["bind"], recorder, now=_later(3600)) == 0


def test_broker_down_at_commit_keeps_the_message_until_a_relay_can_send_it(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: Engine = session_factory.kw["bind"]
    recorder = Recorder()
    recorder.down = True
    monkeypatch.setattr(queue, "publish", recorder)
    with unit_of_work(session_factory) as s:  # the commit succeeds; the send error is not raised
        queue.enqueue_after_commit(s, queue.TASK_PING, job_id=3)
    [row] = _messages(session_factory)
    assert row.sent_at is None and row.attempts == 1 and "Connection refused" in str(row.last_error)
    assert row.claimed_by is None and row.available_at > utcnow()  # backs off
    with session_factory() as s:
        assert "Connection refused" in str(outbox_repo.broker_wait(s, 3))

    assert outbox.publish_pending(engine, recorder) == 0  # not due yet: nothing is tried
    assert outbox.publish_pending(engine, recorder, now=_later(5)) == 0  # due, broker still down
    assert _messages(session_factory)[0].attempts == 2
    recorder.down = False
    assert outbox.publish_pending(engine, recorder, now=_later(60)) == 1
    assert recorder.calls == [(queue.TASK_PING, None, {"job_id": 3})]
    assert outbox.publish_pending(engine, recorder, now=_later(3600)) == 0  # sent once only
    with session_factory() as s:
        assert outbox_repo.broker_wait(s, 3) is None


def test_a_lapsed_claim_of_a_dead_relay_is_taken_over(session_factory: sessionmaker[Session]) -> None:
    engine: Engine = session_factory.kw["bind"]
    now = utcnow()
    with session_factory() as s:
        message = outbox_repo.add_message(s, queue.TASK_PING, {"job_id": 1}, queue=None, available_at=now)
        s.commit()
        # A relay claims it and dies before publishing (or between publishing and marking it sent).
        [claimed] = outbox_repo.claim_messages(
            s, owner="dead", now=now, lease_until=now + timedelta(seconds=60), limit=10
        )
        s.commit()
    recorder = Recorder()
    assert outbox.publish_pending(engine, recorder, now=_later(30)) == 0  # the claim still holds
    assert outbox.publish_pending(engine, recorder, now=_later(61)) == 1  # lapsed: taken over
    with session_factory() as s:  # the dead relay's late bookkeeping cannot overwrite the new owner's
        assert not outbox_repo.mark_sent(s, claimed.id, owner="dead", now=utcnow())
    assert [c[2] for c in recorder.calls] == [{"job_id": 1}] and message.id == claimed.id


def test_racing_relays_publish_each_message_exactly_once(session_factory: sessionmaker[Session]) -> None:
    """Four relays (threads, own sessions) over the same 60 due rows: every message once."""
    engine: Engine = session_factory.kw["bind"]
    with session_factory() as s:
        for i in range(60):
            outbox_repo.add_message(s, queue.TASK_PING, {"job_id": i}, queue=None, available_at=utcnow())
        s.commit()
    recorder = Recorder(delay_s=0.002)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            start.wait()
            while outbox.publish_pending(engine, recorder, limit=5):
                pass
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=relay) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = sorted(kw["job_id"] for _, _, kw in recorder.calls)
    assert ids == list(range(60)), "each message published exactly once"
    assert all(m.sent_at is not None for m in _messages(session_factory))


def test_the_relay_thread_sends_due_messages_and_stops_cleanly(
    session_factory: sessionmaker[Session],
) -> None:
    recorder = Recorder()
    relay = outbox.Relay(session_factory.kw["bind"], recorder, interval_s=0.05)
    relay.start()
    try:
        with session_factory() as s:
            outbox_repo.add_message(s, queue.TASK_PING, {"job_id": 5}, queue="gpu", available_at=utcnow())
            s.commit()
        deadline = time.monotonic() + 10
        while not recorder.calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        relay.stop()
    assert recorder.calls == [(queue.TASK_PING, "gpu", {"job_id": 5})]
    assert not relay._thread.is_alive()


def test_submit_with_the_broker_down_answers_201_and_runs_when_it_is_back(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Celery's real client at a closed port: 201 at once, the job says it waits, nothing is lost."""
    approve_version(client, editor, reviewer, world["mapping"])
    monkeypatch.setenv("UNILABEL_BROKER_URL", CLOSED_PORT_BROKER)
    get_settings.cache_clear()
    queue.get_celery.cache_clear()
    try:
        started = time.monotonic()
        body = job_body(world, world["mapping"]["current_version"]["id"], output_name="down")
        r = client.post("/api/v1/jobs", json=body, headers=editor)
        took = time.monotonic() - started
    finally:
        get_settings.cache_clear()
        queue.get_celery.cache_clear()
    assert r.status_code == 201, r.text
    assert took < 5, f"the failed publish held the request for {took:.1f}s"
    job = r.json()
    assert job["status"] == "queued" and job["waiting_for_broker"] is True
    assert job["message"].startswith("waiting for the broker") and "Connection refused" in job["message"]
    read = client.get(f"/api/v1/jobs/{job['id']}", headers=editor).json()
    assert read["waiting_for_broker"] and read["message"] == job["message"]
    page = client.get(f"/jobs/{job['id']}", headers=editor)
    assert page.status_code == 200 and "waiting for the broker" in page.text
    # No retry is needed (or possible): the message is committed and goes out by itself.
    retry = client.post(f"/api/v1/jobs/{job['id']}/retry", headers=editor)
    assert retry.status_code == 409 and "waiting for the broker" in retry.json()["error"]["message"]
    [row] = _messages(session_factory)
    assert (row.task, json.loads(row.kwargs_json), row.sent_at) == (
        "unilabel.pseudo_label",
        {"job_id": job["id"]},
        None,
    )

    recorder = Recorder()  # the broker is back: the next relay pass sends the message
    # The web process's own relay thread still polls (at the closed port until teardown) and may be
    # holding the row's claim right now, or may just have backed it off: a pass after its lease and
    # its longest backoff takes the message whatever that thread did (CI once caught it mid-claim).
    later = _later(outbox.CLAIM_LEASE_S + outbox.MAX_BACKOFF_S + 5)
    assert outbox.publish_pending(session_factory.kw["bind"], recorder, now=later) == 1
    assert recorder.calls == [("unilabel.pseudo_label", "default", {"job_id": job["id"]})]
    read = client.get(f"/api/v1/jobs/{job['id']}", headers=editor).json()
    assert read["waiting_for_broker"] is False and not read["message"].startswith("waiting")
    with session_factory() as s:
        assert s.get(Job, job["id"]).status == "queued"  # type: ignore[union-attr]


def test_submit_with_the_broker_up_sends_once_and_does_not_wait(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    world: dict[str, Any],
    sent: list[Any],
    session_factory: sessionmaker[Session],
) -> None:
    approve_version(client, editor, reviewer, world["mapping"])
    body = job_body(world, world["mapping"]["current_version"]["id"], output_name="up")
    job = client.post("/api/v1/jobs", json=body, headers=editor).json()
    assert job["waiting_for_broker"] is False and sent == [("unilabel.pseudo_label", {"job_id": job["id"]})]
    assert outbox.publish_pending(session_factory.kw["bind"], Recorder(), now=_later(3600)) == 0
    assert all(m.sent_at is not None for m in _messages(session_factory))


def test_a_planner_killed_before_its_commit_is_planned_again_by_any_worker(
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No shards, no messages, a lapsed lease: another worker's periodic sweep (not a restart of the
    same host) re-queues the parent and sends its task again, through the outbox."""
    recorder = Recorder()
    monkeypatch.setattr(queue, "publish", recorder)
    with session_factory() as s:
        parent = Job(
            kind="pseudo_label",
            status="running",
            attempt=1,
            worker_host="planner@gone",
            heartbeat_at=utcnow() - timedelta(seconds=600),
        )
        s.add(parent)
        s.commit()
        parent_id = parent.id
    assert recovery.sweep(session_factory, lease_s=60) == 1
    assert recorder.calls == [("unilabel.pseudo_label", "default", {"job_id": parent_id})]
    with session_factory() as s:
        assert s.get(Job, parent_id).status == "queued"  # type: ignore[union-attr]


def test_the_plan_commits_shards_with_their_messages_only_under_its_lease(
    sqla_job_env: JobEnv, teacher_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planner whose lease was taken over rolls back (no shards, no messages); the owner's plan
    commits every shard row together with its task message."""
    env = sqla_job_env
    demo = make_demo(env, teacher_template, count=6)
    monkeypatch.setattr(queue, "publish", Recorder())
    monkeypatch.setattr(context, "_factory", env.factory)
    params = PseudoLabelParams(
        model_id=demo.model_id,
        dataset_id=demo.dataset_id,
        mapping_version_id=demo.mapping_version_id,
        shard_size=2,
        output_name="plan",
    )
    with unit_of_work(env.factory) as s:
        job_id = job_service.submit_job(s, params=params, settings=env.settings).id
    with unit_of_work(env.factory) as s:
        stale = utcnow() + timedelta(seconds=1)  # the first claim lapses at once: B takes over
        first = job_repo.claim_job(s, job_id, worker_host="a@h", device="cpu", stale_before=stale)
        second = job_repo.claim_job(s, job_id, worker_host="b@h", device="cpu", stale_before=stale)
    assert (first, second) == (1, 2)
    with env.factory() as s:
        job = s.get(Job, job_id)
    with pytest.raises(LeaseLost):
        steps.plan_shards(job, JobProgressRecorder(env.factory, job_id, first))
    with env.factory() as s:
        assert s.scalar(select(func.count()).select_from(Job).where(Job.parent_id == job_id)) == 0
    assert [m.task for m in _messages(env.factory)] == ["unilabel.pseudo_label"]

    assert steps.plan_shards(job, JobProgressRecorder(env.factory, job_id, second)) == {"_planned": True}
    with env.factory() as s:
        shard_ids = list(s.scalars(select(Job.id).where(Job.parent_id == job_id).order_by(Job.id)))
        assert s.get(Job, job_id).shard_count == 3  # type: ignore[union-attr]
    shard_messages = [m for m in _messages(env.factory) if m.task == queue.TASK_PSEUDO_LABEL_SHARD]
    assert [m.job_id for m in shard_messages] == shard_ids and len(shard_ids) == 3
