"""Label-set version numbers of CVAT imports (issue 14) are unique per run in the database: imports
racing in threads each get their own number (1..N, none twice), an import that loses the race for a
number takes the next one, and the table refuses a number taken twice."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import repositories_label_imports as label_import_repo
from app.db.models_registry import Job, LabelImportNumber
from app.db.session import unit_of_work
from app.services import label_imports
from tests.jobs.test_exports import _export, _finished_run

Headers = dict[str, str]


@pytest.fixture
def run_and_zip(
    client: TestClient, editor: Headers, reviewer: Headers, world: dict[str, Any],
    session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, sent: list[Any],
) -> tuple[int, bytes]:  # fmt: skip
    """A finished run and its CVAT export, masks unchanged (an import of it is a valid new version)."""
    run_id, _ = _finished_run(client, editor, reviewer, world, session_factory)
    zf = _export(client, editor, session_factory, run_id, "cvat", monkeypatch)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for name in zf.namelist():
            if name.startswith("SegmentationClass/") or name == "labelmap.txt":
                out.writestr(name, zf.read(name))
    return run_id, buf.getvalue()


def _import(factory: sessionmaker[Session], settings: Settings, run_id: int, data: bytes) -> int:
    with unit_of_work(factory) as s:
        job = label_imports.import_cvat(s, settings, job_id=run_id, archive=io.BytesIO(data), user_id=None)
        return int(json.loads(job.params_json)["version"])


def _numbers(factory: sessionmaker[Session], run_id: int) -> list[tuple[int, int, str]]:
    """(number, job id, the job's name) of the run's label sets, by number."""
    with factory() as s:
        rows = s.query(LabelImportNumber).filter_by(run_job_id=run_id).order_by(LabelImportNumber.number)
        out = []
        for row in rows:
            job = s.get(Job, row.job_id)
            assert job is not None and json.loads(job.params_json)["version"] == row.number
            out.append((row.number, int(row.job_id or 0), job.name))
        return out


@pytest.mark.timeout(120)
def test_racing_imports_get_distinct_numbers(
    run_and_zip: tuple[int, bytes], session_factory: sessionmaker[Session], settings: Settings
) -> None:
    run_id, data = run_and_zip
    n = 6
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = _import(session_factory, settings, run_id, data)
        except Exception as exc:  # recorded for the assertion below
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert sorted(results) == list(range(1, n + 1)), results  # type: ignore[type-var]
    numbers = _numbers(session_factory, run_id)
    assert [number for number, _, _ in numbers] == list(range(1, n + 1))
    assert all(name == f"corrected labels v{number} of run {run_id}" for number, _, name in numbers)


@pytest.mark.timeout(60)
def test_an_import_that_loses_the_race_for_a_number_takes_the_next(
    run_and_zip: tuple[int, bytes], session_factory: sessionmaker[Session], settings: Settings,
    db_backend: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    run_id, data = run_and_zip
    claims: list[int | None] = []
    claim = label_import_repo.claim_number

    def spy(session: Session, run: int, job_id: int) -> int | None:
        claims.append(claim(session, run, job_id))
        return claims[-1]

    monkeypatch.setattr(label_import_repo, "claim_number", spy)
    first = session_factory()
    job = label_imports.import_cvat(first, settings, job_id=run_id, archive=io.BytesIO(data), user_id=None)
    assert json.loads(job.params_json)["version"] == 1  # flushed, not committed: others do not see it
    outcome: dict[str, object] = {}

    def second() -> None:
        try:
            outcome["version"] = _import(session_factory, settings, run_id, data)
        except Exception as exc:  # recorded for the assertion below
            outcome["version"] = exc

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(
        timeout=1.0
    )  # waits on the first one's lock (SQLite) or its uncommitted number 1 (PostgreSQL)
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome.get("version") == 2, outcome
    # PostgreSQL: the second import read 0 as the highest number, its insert of 1 waited on the
    # first one's and failed at its commit, and it read again. SQLite: the second waited for the
    # write lock before reading, so it read 1 at once.
    assert claims == ([1, None, 2] if db_backend == "postgres" else [1, 2]), claims
    assert [number for number, _, _ in _numbers(session_factory, run_id)] == [1, 2]


def test_the_database_refuses_a_number_taken_twice(
    run_and_zip: tuple[int, bytes], session_factory: sessionmaker[Session], settings: Settings
) -> None:
    run_id, data = run_and_zip
    assert _import(session_factory, settings, run_id, data) == 1
    with session_factory() as s:
        s.add(LabelImportNumber(run_job_id=run_id, number=1, job_id=None))
        with pytest.raises(IntegrityError):
            s.flush()
