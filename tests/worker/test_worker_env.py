"""Worker environment variables outside ``Settings``: a bad value is refused with its name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from worker import context


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("UNILABEL_JOB_LEASE_S", "soon", "UNILABEL_JOB_LEASE_S='soon' is not a number"),
        ("UNILABEL_JOB_HEARTBEAT_S", "0", "UNILABEL_JOB_HEARTBEAT_S='0' must be above 0"),
        ("UNILABEL_JOB_SWEEP_S", "-3", "must be above 0"),
        ("UNILABEL_JOB_PROGRESS_S", "nan", "must be above 0"),
    ],
)
def test_bad_lease_timings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        context.lease_timings()


def test_defaults_and_good_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNILABEL_JOB_LEASE_S", "90")
    timings = context.lease_timings()
    assert (timings.lease_s, timings.heartbeat_s) == (90.0, 5.0)
    monkeypatch.setenv("UNILABEL_TORCH_THREADS", "2.5")
    with pytest.raises(ValueError, match="UNILABEL_TORCH_THREADS='2.5' is not a whole number"):
        context.env_number("UNILABEL_TORCH_THREADS", "1", int)


def test_a_worker_with_a_bad_value_does_not_start(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"UNILABEL_JOB_LEASE_S": "1min", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", "import worker.celery_app"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "UNILABEL_JOB_LEASE_S='1min' is not a number" in done.stderr
