"""Process-wide worker context (task adapter layer): DB sessions, host name, device, lease timings.

Lease timings come from the environment so tests can shorten them:
``UNILABEL_JOB_LEASE_S`` (default 60: a running job whose heartbeat is older is re-queued),
``UNILABEL_JOB_HEARTBEAT_S`` (default 5) and ``UNILABEL_JOB_SWEEP_S`` (default 15).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings
from app.db.session import engine_from_settings, make_sessionmaker
from app.services.limits import use_limits


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    lease_s: float
    heartbeat_s: float
    sweep_s: float
    progress_interval_s: float


def env_number(name: str, default: str, kind: type[float] | type[int] = float) -> float:
    """A positive number from the environment; a bad value stops start-up with a message naming it."""
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number") from None
    if not value > 0:
        raise ValueError(f"{name}={raw!r} must be above 0")
    return value


def lease_timings() -> LeaseTimings:
    return LeaseTimings(
        lease_s=env_number("UNILABEL_JOB_LEASE_S", "60"),
        heartbeat_s=env_number("UNILABEL_JOB_HEARTBEAT_S", "5"),
        sweep_s=env_number("UNILABEL_JOB_SWEEP_S", "15"),
        progress_interval_s=env_number("UNILABEL_JOB_PROGRESS_S", "1"),
    )


_factory: sessionmaker[Session] | None = None


def session_factory() -> sessionmaker[Session]:
    """The worker process's session factory (rebuilt after a fork, see ``worker.signals``)."""
    global _factory
    if _factory is None:
        settings = get_settings()
        _factory = make_sessionmaker(engine_from_settings(settings))
        use_limits(_factory, settings.limits)
    return _factory


def reset_after_fork() -> None:
    """Drop the parent's engine in a forked pool child (connections must not be shared)."""
    global _factory
    if _factory is not None and _factory.kw.get("bind") is not None:
        _factory.kw["bind"].dispose(close=False)
    _factory = None


_hostname: str | None = None


def set_worker_hostname(name: str) -> None:
    global _hostname
    _hostname = name


def worker_hostname() -> str:
    """The Celery node name (``worker1@host``) when known, else ``pid@host``."""
    return _hostname or f"{os.getpid()}@{socket.gethostname()}"


@lru_cache(maxsize=1)
def device_name() -> str:
    """What this worker computes on: ``cuda:0 (NVIDIA H100 ...)`` or ``cpu``."""
    import torch

    if torch.cuda.is_available():
        return f"cuda:0 ({torch.cuda.get_device_name(0)})"
    return "cpu"


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when present, else ``cpu``; anything else is used as given."""
    if requested != "auto":
        return requested
    return "cuda" if device_name().startswith("cuda") else "cpu"


def configure_torch_threads() -> None:
    """Apply ``UNILABEL_TORCH_THREADS`` (several workers on one CPU machine each take a share)."""
    if os.environ.get("UNILABEL_TORCH_THREADS"):
        import torch

        torch.set_num_threads(int(env_number("UNILABEL_TORCH_THREADS", "1", int)))
