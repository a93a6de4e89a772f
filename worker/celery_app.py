"""The worker's Celery app (task adapter layer): the client config of ``app.queue`` plus task modules.

Queues: ``default``, ``gpu`` and ``cpu``. A worker consumes all three unless started with
``-Q gpu`` (a GPU machine sharing one Redis with others) or ``-Q cpu``. Prefetch is 1 and
acknowledgement late, so a shard is acknowledged only after it finished.

Start one with ``celery -A worker.celery_app worker -n w1@%h --pool=solo`` (``unilabel worker``).
"""

from __future__ import annotations

from kombu import Exchange, Queue  # type: ignore[attr-defined]

from app.config import get_settings
from app.queue import DEFAULT_QUEUE, make_celery
from worker import context

QUEUES = (DEFAULT_QUEUE, "gpu", "cpu")

# A bad UNILABEL_JOB_* or UNILABEL_TORCH_THREADS value stops the worker here, with a message naming it.
context.lease_timings()
context.env_number("UNILABEL_TORCH_THREADS", "1", int)

celery_app = make_celery(get_settings())
celery_app.conf.update(
    include=["worker.tasks"],
    # The same shape Celery gives queues it creates on send (exchange and routing key = name), so
    # the web client, which configures no queues, and the worker route identically.
    task_queues=[Queue(name, Exchange(name), routing_key=name) for name in QUEUES],  # type: ignore[no-untyped-call]
    worker_send_task_events=False,
    task_track_started=False,
    worker_cancel_long_running_tasks_on_connection_loss=False,
)

import worker.signals  # noqa: E402,F401  (connects the signal handlers)

app = celery_app  # ``celery -A worker.celery_app`` finds ``app``
