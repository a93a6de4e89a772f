"""Two workers starting at once on the serverless SQLite broker must not race on the queue rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from app.config import Settings
from app.queue import make_celery


def _celery(tmp_path: Path) -> Any:
    from kombu import Exchange, Queue  # type: ignore[attr-defined]

    from worker.celery_app import QUEUES

    app = make_celery(Settings(broker_url=f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}", data_dir=tmp_path))
    app.conf.task_queues = [Queue(n, Exchange(n), routing_key=n) for n in QUEUES]  # type: ignore[no-untyped-call]
    return app


def _queue_rows(tmp_path: Path) -> list[str]:
    with sqlite3.connect(tmp_path / "broker.sqlite") as db:
        return sorted(name for (name,) in db.execute("SELECT name FROM kombu_queue"))


def test_a_worker_that_loses_the_queue_insert_race_finds_the_winners_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.transport import sqlalchemy as kombu_sqla

    from worker.signals import declare_sqla_queues

    original = kombu_sqla.Channel._get_or_create
    lost: set[str] = set()

    def loses_once(self: Any, queue: str) -> Any:
        if queue not in lost:
            # Another worker inserts the row between this one's lookup and its insert.
            lost.add(queue)
            original(self, queue)
            self.session.add(self.queue_cls(queue))
            self.session.commit()  # the duplicate insert: IntegrityError, as in the CI log
        return original(self, queue)

    monkeypatch.setattr(kombu_sqla.Channel, "_get_or_create", loses_once)
    app = _celery(tmp_path)
    declare_sqla_queues(app)
    assert lost == {"default", "gpu", "cpu"}
    assert _queue_rows(tmp_path) == ["cpu", "default", "gpu"]


def test_the_simulated_race_really_fails_without_the_retry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.transport import sqlalchemy as kombu_sqla

    original = kombu_sqla.Channel._get_or_create

    def loses(self: Any, queue: str) -> Any:
        original(self, queue)
        self.session.add(self.queue_cls(queue))
        self.session.commit()
        return None

    monkeypatch.setattr(kombu_sqla.Channel, "_get_or_create", loses)
    app = _celery(tmp_path)
    with app.connection_for_read() as conn, pytest.raises(IntegrityError):
        app.amqp.queues["default"].bind(conn.default_channel).declare()


def test_redis_brokers_are_left_alone(tmp_path: Path) -> None:
    from worker.signals import on_worker_init

    class Sender:
        app = make_celery(Settings(broker_url="redis://127.0.0.1:1/0", data_dir=tmp_path))

    on_worker_init(sender=Sender())  # no connection attempt to the unreachable Redis
