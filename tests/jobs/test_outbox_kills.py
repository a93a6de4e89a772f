"""Kill tests of the outbox with real worker processes: nothing is lost between database and broker.

(a) The broker is down when a job is submitted: 201, the job waits for the broker, and runs once the
    broker is back (the web process's relay publishes it).
(b) The planner is SIGKILLed right after committing its shards, before sending any: a relay in
    another process publishes the shard messages (twice, as after a relay crash between publishing
    and marking) and a worker with another host name finishes the job, every image once.
Both run with the serverless SQLite broker and with Redis (integration).
"""

from __future__ import annotations

import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app import outbox, queue
from app.config import get_settings, load_settings
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_outbox import OutboxMessage
from app.db.session import unit_of_work
from app.schemas.jobs import PseudoLabelParams
from app.services import jobs as job_service
from app.web.main import create_app
from tests import factories
from tests.jobs.conftest import JobEnv, make_demo, wait_for
from tests.jobs.test_workers import TERMINAL, _assert_outputs_complete
from worker.sharding import KILL_AFTER_PLAN_ENV

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
CLOSED_PORT_BROKER = "redis://127.0.0.1:1/0"


def _messages(env: JobEnv) -> list[OutboxMessage]:
    with env.factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _status(env: JobEnv, job_id: int) -> str:
    with env.factory() as s:
        return job_service.get_job(s, job_id).status


def _use_broker(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point this (test/web) process's Celery client at ``url``."""
    monkeypatch.setenv("UNILABEL_BROKER_URL", url)
    get_settings.cache_clear()
    queue.get_celery.cache_clear()


def test_broker_down_at_submit_the_job_runs_once_the_broker_is_back(
    job_env: JobEnv, teacher_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = job_env
    demo = make_demo(env, teacher_template, count=8)
    with env.factory() as s:
        _, token = factories.make_user(s, role="editor", name="submitter")
        s.commit()
    headers = {"Authorization": f"Bearer {token}"}
    real_broker = env.env["UNILABEL_BROKER_URL"]
    _use_broker(monkeypatch, CLOSED_PORT_BROKER)
    body = {
        "params": {
            "kind": "pseudo_label",
            "model_id": demo.model_id,
            "dataset_id": demo.dataset_id,
            "mapping_version_id": demo.mapping_version_id,
            "tta": False,
            "shard_size": 4,
            "output_name": "broker-down",
        }
    }
    app = create_app(load_settings(outbox_poll_s=0.2))
    with TestClient(app) as client:
        started = time.monotonic()
        r = client.post("/api/v1/jobs", json=body, headers=headers)
        took = time.monotonic() - started
        assert r.status_code == 201, r.text
        assert took < 5, f"the failed publish held the request for {took:.1f}s"
        job = r.json()
        assert job["waiting_for_broker"] and job["message"].startswith("waiting for the broker")
        [message] = _messages(env)
        assert message.sent_at is None and message.attempts >= 1

        _use_broker(monkeypatch, real_broker)  # the broker is back: the web relay sends the message
        wait_for(lambda: _messages(env)[0].sent_at is not None, timeout=30, what="the web relay's publish")
        read = client.get(f"/api/v1/jobs/{job['id']}", headers=headers).json()
        assert read["status"] == "queued" and read["waiting_for_broker"] is False

    env.start_worker("w1")
    wait_for(lambda: _status(env, job["id"]) in TERMINAL, timeout=180, what="the job", env=env)
    assert _status(env, job["id"]) == "succeeded", env.worker_logs()
    _assert_outputs_complete(env.settings.data_dir / "outputs" / "broker-down", demo.dataset_root)
    assert all(m.sent_at is not None for m in _messages(env)), "parent, shard and finalize messages sent"


def test_planner_killed_after_its_commit_loses_no_shard(job_env: JobEnv, teacher_template: Path) -> None:
    env = job_env
    demo = make_demo(env, teacher_template, count=12)
    params = PseudoLabelParams(
        model_id=demo.model_id,
        dataset_id=demo.dataset_id,
        mapping_version_id=demo.mapping_version_id,
        tta=False,
        shard_size=4,
        output_name="planner-kill",
    )
    with unit_of_work(env.factory) as s:
        job_id = job_service.submit_job(s, params=params, settings=env.settings).id

    env.start_worker("planner", extra_env={KILL_AFTER_PLAN_ENV: "1"})
    planner = env.workers.pop("planner")
    assert planner.wait(timeout=180) == -signal.SIGKILL, env.worker_logs()
    with env.factory() as s:
        parent = job_service.get_job(s, job_id)
        shards = repo.list_shards(s, job_id)
        assert parent.status == "running" and parent.shard_count == 3
        assert str(parent.worker_host).startswith("planner@")
        assert [(sh.status, sh.attempt) for sh in shards] == [("queued", 0)] * 3
    unsent = [m for m in _messages(env) if m.sent_at is None]
    assert sorted(json.loads(m.kwargs_json)["job_id"] for m in unsent) == [sh.id for sh in shards]
    assert all(m.task == queue.TASK_PSEUDO_LABEL_SHARD and m.attempts == 0 for m in unsent), "never sent"

    # A relay in another process (this one) publishes them once their grace has passed ...
    later = utcnow() + timedelta(seconds=outbox.NUDGE_GRACE_S + 1)
    assert outbox.publish_pending(env.factory.kw["bind"], queue.publish, now=later) == 3
    # ... and once more, as a relay killed between publishing and marking sent would: duplicates.
    for shard in shards:
        queue.send_task(queue.TASK_PSEUDO_LABEL_SHARD, job_id=shard.id)

    env.start_worker("w2")  # another host name: nothing waits for "planner" to come back
    wait_for(lambda: _status(env, job_id) in TERMINAL, timeout=180, what="the job", env=env)
    assert _status(env, job_id) == "succeeded", env.worker_logs()
    with env.factory() as s:
        done = repo.list_shards(s, job_id)
    assert all(str(sh.worker_host).startswith("w2@") for sh in done)
    assert [sh.attempt for sh in done] == [1, 1, 1], "each duplicate shard message was a no-op"
    _assert_outputs_complete(env.settings.data_dir / "outputs" / "planner-kill", demo.dataset_root)
