"""Queue client: tasks are sent by name only after the unit of work commits, never on rollback."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import queue
from app.config import load_settings
from app.db.migrate import upgrade_database
from app.db.session import make_engine, make_sessionmaker, unit_of_work


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, object]]]:
    calls: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(queue, "send_task", lambda name, queue=None, **kw: calls.append((name, kw)))
    return calls


def _factory(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade_database(url)  # the message is an outbox row first
    return make_sessionmaker(make_engine(url))


def test_sent_after_commit(tmp_path: Path, sent: list[tuple[str, dict[str, object]]]) -> None:
    with unit_of_work(_factory(tmp_path)) as session:
        queue.enqueue_after_commit(session, queue.TASK_PING, message="hi")
        assert sent == []
    assert sent == [(queue.TASK_PING, {"message": "hi"})]


def test_nothing_sent_on_rollback(tmp_path: Path, sent: list[tuple[str, dict[str, object]]]) -> None:
    with pytest.raises(RuntimeError), unit_of_work(_factory(tmp_path)) as session:
        queue.enqueue_after_commit(session, queue.TASK_PING)
        raise RuntimeError("boom")
    assert sent == []


def test_celery_config_is_json_only_with_late_acks() -> None:
    config = queue.celery_config(load_settings(broker_url="redis://localhost:6379/0"))
    assert config["accept_content"] == ["json"] and config["task_serializer"] == "json"
    assert config["task_acks_late"] and config["worker_prefetch_multiplier"] == 1
    assert config["broker_transport_options"]["visibility_timeout"] >= 24 * 3600
    # An unreachable broker fails a publish within seconds (the outbox keeps the message).
    assert config["broker_transport_options"]["socket_connect_timeout"] <= 5
    assert config["task_publish_retry_policy"]["max_retries"] <= 3
    sqlite = queue.celery_config(load_settings(broker_url="sqla+sqlite:///var/b.sqlite"))
    assert "broker_transport_options" not in sqlite  # kombu's SQLAlchemy transport rejects it
