"""Celery *client* side (outer layer): task-name constants and send-after-commit.

The web process never imports ``worker`` or torch: it sends tasks by name (``send_task``).
``worker.tasks`` registers its tasks under the names defined here.

API:
    TASK_PING                       -- ``unilabel.ping``: a no-op health check task.
    make_celery(settings)           -- a Celery app configured from ``Settings`` (JSON only).
    get_celery()                    -- the process-wide client built from ``get_settings()``.
    enqueue_after_commit(session, name, **ids) -- queue ``name`` once the session commits.
    run_after_commit_hooks(session) -- called by the unit of work after a successful commit.
    discard_after_commit_hooks(session) -- called on rollback: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from celery import Celery

from app.config import Settings, get_settings

TASK_PING = "unilabel.ping"
TASK_PSEUDO_LABEL = "unilabel.pseudo_label"
TASK_TRAIN = "unilabel.train"
TASK_EVALUATE = "unilabel.evaluate"
# Issue 4 (jobs): the shard and finalize steps of a sharded pseudo-labeling job, dataset scans.
TASK_PSEUDO_LABEL_SHARD = "unilabel.pseudo_label_shard"
TASK_FINALIZE_PSEUDO_LABEL = "unilabel.finalize_pseudo_label"
TASK_SCAN_DATASET = "unilabel.scan_dataset"
# Issue 10 (model trust): convert an admin-trusted paper .pth into safetensors weights, once.
TASK_CONVERT_MODEL = "unilabel.convert_model"
DEFAULT_QUEUE = "default"

AFTER_COMMIT_KEY = "unilabel_after_commit"
VISIBILITY_TIMEOUT_S = 48 * 3600


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings shared by the client and the worker (JSON only, one task at a time)."""
    config: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        # Jobs name their queue ("gpu", "cpu"); everything else goes to "default".
        "task_default_queue": DEFAULT_QUEUE,
    }
    if settings.broker_url.startswith(("redis", "rediss", "sqs")):
        # Above the longest training run, so the broker does not redeliver a running job while it is
        # unacknowledged (Celery's acks_late caveat). The SQLAlchemy transport would pass this option
        # on to create_engine(), which rejects it, so it is set for these brokers only.
        config["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT_S}
    return config


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured from ``settings``; the worker adds its task modules on top."""
    app = Celery("unilabel")
    app.conf.update(celery_config(settings))
    return app


@lru_cache(maxsize=1)
def get_celery() -> Celery:
    """The process-wide Celery client (built lazily: importing this module connects to nothing)."""
    return make_celery(get_settings())


def send_task(name: str, *, queue: str | None = None, **kwargs: Any) -> None:
    """Send the task ``name`` with JSON keyword arguments (ids only) now, to ``queue`` if given."""
    get_celery().send_task(name, kwargs=kwargs, queue=queue)


def enqueue_after_commit(session: Any, name: str, *, queue: str | None = None, **kwargs: Any) -> None:
    """Register ``name(**kwargs)`` to be sent after ``session`` commits (never on rollback)."""
    hooks: list[Callable[[], None]] = session.info.setdefault(AFTER_COMMIT_KEY, [])
    hooks.append(lambda: send_task(name, queue=queue, **kwargs))


def run_after_commit_hooks(session: Any) -> None:
    """Run and clear the hooks registered with :func:`enqueue_after_commit`."""
    hooks: list[Callable[[], None]] = session.info.pop(AFTER_COMMIT_KEY, [])
    for hook in hooks:
        hook()


def discard_after_commit_hooks(session: Any) -> None:
    """Forget pending hooks (the transaction rolled back)."""
    session.info.pop(AFTER_COMMIT_KEY, None)
