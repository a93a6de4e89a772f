"""Celery *client* side (outer layer): task-name constants and send-after-commit via the outbox.

The web process never imports ``worker`` or torch: it sends tasks by name (``send_task``).
``worker.tasks`` registers its tasks under the names defined here.

Nothing is lost between the database and the broker: :func:`enqueue_after_commit` writes the
message as an ``outbox_message`` row *in the caller's transaction* (so it commits or rolls back
with the job), and after the commit publishes it at once (the nudge). When that publish fails
(broker down) or never happens (the process died), a relay (``app.outbox.Relay``, running in the
web process and in every worker) publishes it later.

API:
    TASK_PING                       -- ``unilabel.ping``: a no-op health check task.
    make_celery(settings)           -- a Celery app configured from ``Settings`` (JSON only).
    get_celery()                    -- the process-wide client built from ``get_settings()``.
    send_task(name, queue=, **kw)   -- publish now (raises when the broker is unreachable).
    publish(name, queue, kwargs)    -- the outbox relay's publisher (calls ``send_task``).
    enqueue_after_commit(session, name, **ids) -- an outbox row now; published once the session commits.
    after_commit(session, hook)     -- run ``hook()`` after the session's unit of work commits.
    run_after_commit_hooks(session) -- called by the unit of work after a successful commit.
    discard_after_commit_hooks(session) -- called on rollback: nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import Any

from celery import Celery

from app import outbox
from app.config import Settings, get_settings
from app.db import repositories_outbox
from app.db.base import utcnow

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
# Issue 14 (native label formats): convert a dataset's polygon / panoptic labels to label-id PNGs.
TASK_CONVERT_LABELS = "unilabel.convert_labels"
# Issue 14 (exports): a run's labels in a tool's layout, as one zip (not sharded).
TASK_EXPORT = "unilabel.export"
DEFAULT_QUEUE = "default"

AFTER_COMMIT_KEY = "unilabel_after_commit"
OUTBOX_KEY = "unilabel_outbox_ids"
VISIBILITY_TIMEOUT_S = 48 * 3600
BROKER_CONNECT_TIMEOUT_S = 2


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
        # A publish gives up quickly (the outbox keeps the message and a relay retries with backoff):
        # three tries, so an unreachable broker holds a submit for at most ~3 connect timeouts.
        "task_publish_retry_policy": {
            "max_retries": 2,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.5,
        },
    }
    if settings.broker_url.startswith(("redis", "rediss", "sqs")):
        # Above the longest training run, so the broker does not redeliver a running job while it is
        # unacknowledged (Celery's acks_late caveat). The SQLAlchemy transport would pass this option
        # on to create_engine(), which rejects it, so it is set for these brokers only.
        # A short connect timeout: with the broker unreachable, a publish fails within seconds
        # (the message stays in the outbox) instead of holding a request.
        config["broker_transport_options"] = {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_S,
        }
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


def publish(name: str, queue: str | None, kwargs: dict[str, Any]) -> None:
    """The outbox relay's publisher: :func:`send_task` (looked up at call time, so tests can fake it)."""
    send_task(name, queue=queue, **kwargs)


def after_commit(session: Any, hook: Callable[[], object]) -> None:
    """Run ``hook()`` once the session's unit of work has committed (never on rollback); its result
    is ignored."""
    hooks: list[Callable[[], object]] = session.info.setdefault(AFTER_COMMIT_KEY, [])
    hooks.append(hook)


def enqueue_after_commit(session: Any, name: str, *, queue: str | None = None, **kwargs: Any) -> None:
    """Queue ``name(**kwargs)``: an outbox row in ``session``'s transaction, published after the commit.

    A rollback removes the row with everything else. After the commit the unit of work publishes the
    rows of this transaction at once; a relay sends any it could not (see ``app.outbox``).
    """
    available_at = utcnow() + timedelta(seconds=outbox.NUDGE_GRACE_S)
    message = repositories_outbox.add_message(session, name, kwargs, queue=queue, available_at=available_at)
    ids: list[int] | None = session.info.get(OUTBOX_KEY)
    if ids is None:
        ids = session.info[OUTBOX_KEY] = []
        bind = session.get_bind()
        after_commit(session, lambda: outbox.nudge(bind, publish, ids))
    ids.append(message.id)


def run_after_commit_hooks(session: Any) -> None:
    """Run and clear the hooks registered with :func:`after_commit` (the outbox nudge among them)."""
    session.info.pop(OUTBOX_KEY, None)
    hooks: list[Callable[[], object]] = session.info.pop(AFTER_COMMIT_KEY, [])
    for hook in hooks:
        hook()


def discard_after_commit_hooks(session: Any) -> None:
    """Forget pending hooks (the transaction rolled back, and the outbox rows with it)."""
    session.info.pop(OUTBOX_KEY, None)
    session.info.pop(AFTER_COMMIT_KEY, None)
