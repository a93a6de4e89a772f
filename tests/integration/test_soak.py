"""Soak: a real uvicorn server with a deliberately small connection pool under mixed concurrent load.

Many more clients than connections mix full pages, self-polling HTMX status fragments, file
downloads (``FileResponse`` and CSV exports), JSON lists and API writes while a job writes its
progress, as the embedded worker would. Every answer must be the expected one (no 500 from a pool
timeout or a locked database) and afterwards the pool must have every connection back.

The pool timeout (15 s) leaves room for a slow, shared CI machine: a request that waits longer
for a slot is answered 503, which this test counts as a failure. Without the admission gate of
``app.web.deps`` this stalls: requests that wait for a connection
take every worker thread, while the requests that hold the connections wait for a thread to run
their handler, until the pool times out ("QueuePool limit of size 2 overflow 0 reached").
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.models_registry import Job
from app.db.session import pool_status
from app.domain.jobs import Progress
from app.services import users as user_service
from app.web.main import create_app
from tests import factories
from tests.test_serve import _free_port
from worker.progress import JobProgressRecorder

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CLIENTS = 60
SECONDS = 8.0


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    url: str
    expect: int
    auth: str  # "bearer" | "cookie"
    htmx: bool = False
    body: bool = False


@pytest.fixture
def small_pool(settings: Settings) -> Settings:
    return settings.model_copy(update={"db_pool_size": 2, "db_max_overflow": 0, "db_pool_timeout": 15.0})


@pytest.fixture
def server(small_pool: Settings) -> Iterator[tuple[FastAPI, str]]:
    app = create_app(small_pool)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="soak-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield app, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _seed(factory: sessionmaker[Session], out: Path) -> tuple[list[Call], str, str, int]:
    """Content for the load: a mapping, a running job with outputs, a user with token + login URL."""
    out.mkdir(parents=True)
    (out / "manifest.jsonl").write_text(
        "".join(json.dumps({"image": f"{i:04d}.png"}) + "\n" for i in range(500))
    )
    (out / "labels").mkdir()
    (out / "labels" / "0001.png").write_bytes(b"\x89PNG" + bytes(64 * 1024))
    with factory() as s:
        user, token = factories.make_user(s, role="editor", name="soak")
        mapping = factories.make_mapping(s)
        job = Job(
            kind="pseudo_label", status="running", name="soak", output_dir=str(out), progress_total=10**6
        )
        s.add(job)
        s.flush()
        login = user_service.create_login_token(s, user=user, ttl_s=600)
        s.commit()
        ids = (mapping.id, mapping.source_taxonomy_id, job.id)
    mapping_id, taxonomy_id, job_id = ids
    calls = [
        Call("GET", "/", 200, "cookie"),
        Call("GET", "/jobs", 200, "cookie"),
        Call("GET", f"/mappings/{mapping_id}", 200, "cookie"),
        Call("GET", f"/jobs/{job_id}/status", 200, "cookie", htmx=True),
        Call("GET", f"/jobs/{job_id}/status", 200, "cookie", htmx=True),
        Call("GET", f"/api/v1/jobs/{job_id}/manifest.jsonl", 200, "bearer"),
        Call("GET", f"/api/v1/jobs/{job_id}/files/labels/0001.png", 200, "bearer"),
        Call("GET", f"/api/v1/taxonomies/{taxonomy_id}/export?format=json", 200, "bearer"),
        Call("GET", f"/api/v1/mappings/{mapping_id}/export", 200, "bearer"),
        Call("GET", "/api/v1/jobs", 200, "bearer"),
        Call("GET", "/api/v1/taxonomies", 200, "bearer"),
        Call("POST", "/api/v1/taxonomies", 201, "bearer", body=True),
    ]
    return calls, token, login, job_id


def _progress_writer(
    factory: sessionmaker[Session], job_id: int, stop: threading.Event, errors: list[BaseException]
) -> None:
    """The worker's progress bookkeeping (its own engine, as in the worker process), unthrottled."""
    recorder = JobProgressRecorder(factory, job_id, 0, interval_s=0.0)
    step = 0
    try:
        while not stop.is_set():
            step += 1
            recorder(Progress(step, 10**6, f"image {step}"))
            time.sleep(0.02)
    except BaseException as exc:  # reported by the test
        errors.append(exc)


async def _load(base: str, calls: list[Call], token: str, login: str) -> tuple[Counter[str], list[str]]:
    outcomes: Counter[str] = Counter()
    problems: list[str] = []
    bearer = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=CLIENTS * 2)
    async with (
        httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as api,
        httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as browser,
    ):
        assert (await browser.get(f"/login/token?token={login}")).status_code == 303
        deadline = time.monotonic() + SECONDS
        counter = iter(range(10**9))

        async def client(offset: int) -> None:
            i = offset
            while time.monotonic() < deadline:
                call = calls[i % len(calls)]
                i += 1
                headers = dict(bearer) if call.auth == "bearer" else {}
                if call.htmx:
                    headers["HX-Request"] = "true"
                body = None
                if call.body:
                    body = {"name": f"soak-{next(counter)}", "labels": [{"value": 0, "name": "road"}]}
                http = api if call.auth == "bearer" else browser
                try:
                    r = await http.request(call.method, call.url, headers=headers, json=body)
                    await r.aread()
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                    problems.append(f"{call.method} {call.url}: {type(exc).__name__}: {exc}")
                    continue
                outcomes[f"{r.status_code}"] += 1
                if r.status_code != call.expect:
                    problems.append(f"{call.method} {call.url}: {r.status_code} {r.text[:200]}")

        await asyncio.gather(*(client(k) for k in range(CLIENTS)))
    return outcomes, problems


@pytest.mark.timeout(180)
def test_small_pool_survives_mixed_concurrent_load(
    server: tuple[FastAPI, str], session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    app, base = server
    calls, token, login, job_id = _seed(session_factory, tmp_path / "job-out")
    stop = threading.Event()
    writer_errors: list[BaseException] = []
    writer = threading.Thread(
        target=_progress_writer, args=(session_factory, job_id, stop, writer_errors), daemon=True
    )
    writer.start()
    try:
        # A thread of its own: an earlier test (Playwright's sync API) may have left an event loop
        # running in this one, and asyncio.run() refuses to start inside a running loop.
        with ThreadPoolExecutor(max_workers=1) as pool:
            outcomes, problems = pool.submit(asyncio.run, _load(base, calls, token, login)).result()
    finally:
        stop.set()
        writer.join(timeout=30)
    total = sum(outcomes.values())
    assert not writer_errors, writer_errors
    assert not problems, f"{len(problems)} of {total} requests failed, e.g. {problems[:5]}"
    # The load really ran: every client made several requests (how many fit in SECONDS depends on
    # the machine; one loaded full run managed 280 for 60 clients).
    assert total >= CLIENTS * 3, outcomes
    # Every connection is back in the pool once the requests are answered.
    deadline = time.monotonic() + 5
    while pool_status(app.state.engine)["checked_out"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool_status(app.state.engine)["checked_out"] == 0
    assert app.state.db_gate.value == app.state.db_capacity == 2
