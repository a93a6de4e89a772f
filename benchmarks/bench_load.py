"""Load: N concurrent clients for D seconds against ``unilabel serve``, idle and with a job running.

Usage::

    python benchmarks/bench_load.py [--clients 50] [--duration 60] [--think 1.0]
        [--backends sqlite postgres] [--phases idle job] [--web-workers 1] [--images 300]

For each backend the script builds a fresh database (a SQLite file, or a PostgreSQL database it
creates and drops), runs ``unilabel db upgrade``, ``demo load`` and ``demo ml`` (synthetic street
scenes and a tiny random teacher), makes an admin with an API token and a one-time login URL, and
starts ``unilabel serve`` (web processes + the embedded Celery worker on the serverless broker).

Each client is a user who reads, waits ``--think`` seconds (uniformly 0.5x..1.5x), and reads again:
the home page, the mapping list, the mapping editor, the job's self-polling HTMX status fragment
(the most frequent request, as in a browser watching a job), and the JSON lists of taxonomies,
mappings and jobs, half of the users with a session cookie and half with a bearer token. In the
``job`` phase a pseudo-label job (TTA on) is running on the demo dataset the whole time: it is
resubmitted when it ends. An error is any answer other than 200, or no answer.

Prints one JSON object (and a Markdown table on stderr). Latencies are measured by the client
(``client_ms``, what a user waits) and by the server (``server_ms``: its ``Server-Timing`` header).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOALS_P99_MS = {"idle": 250.0, "job": 750.0}
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass(slots=True)
class Target:
    """What the clients read: ids found after the demo setup."""

    token: str
    cookies: dict[str, str]
    mapping_id: int
    job_id: int
    params: dict[str, Any]


@dataclass(slots=True)
class Stats:
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


# --- setup ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"unilabel {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _postgres_database(base: str) -> tuple[str, Any]:
    """A new private database next to ``base``'s; returns its URL and a function that drops it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"ul_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(base).set(database=name).render_as_string(hide_password=False), drop


def _env(tmp: Path, database_url: str, args: argparse.Namespace) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        UNILABEL_DATABASE_URL=database_url,
        UNILABEL_BROKER_URL=f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        UNILABEL_DATA_DIR=str(tmp / "var" / "data"),
        UNILABEL_SECRET_KEY="benchmark-secret-0123456789",
        UNILABEL_TORCH_THREADS=str(args.torch_threads),
        OMP_NUM_THREADS=str(args.torch_threads),
    )


def _prepare(env: dict[str, str], port: int, images: int) -> dict[str, Any]:
    _cli(env, "db", "upgrade")
    _cli(env, "demo", "load")
    out = _cli(env, "demo", "ml", "--count", str(images))
    found = re.search(r"dataset (\d+), model (\d+), approved mapping version (\d+)", out)
    if not found:
        raise RuntimeError(f"unexpected `demo ml` output: {out}")
    dataset_id, model_id, version_id = (int(g) for g in found.groups())
    token = _cli(env, "user", "create", "bench", "--role", "admin").strip().splitlines()[-1]
    login = (
        _cli(env, "user", "login-url", "bench", "--url", f"http://127.0.0.1:{port}").strip().splitlines()[-1]
    )
    params = {
        "kind": "pseudo_label",
        "name": "load benchmark",
        "model_id": model_id,
        "dataset_id": dataset_id,
        "mapping_version_id": version_id,
        "tta": True,
        "device": "cpu",
        "shard_size": 100_000,
    }
    return {"token": token, "login": login, "params": params}


def _start_server(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"serve did not answer in time:\n{log.read_text()[-3000:]}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``; 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes(server_pid: int) -> dict[str, list[int]]:
    """The web processes and the embedded Celery worker under ``unilabel serve``."""
    web: list[int] = []
    worker: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if ppid == server_pid:
            (worker if "celery" in cmdline else web).append(int(entry.name))
    return {"web": web or [server_pid], "worker": worker}


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- load -----------------------------------------------------------------------------------------


def _requests(t: Target) -> list[tuple[str, str, bool]]:
    """(kind, url, htmx) in proportion: the polled status fragment dominates, as in a browser."""
    status = ("status fragment", f"/jobs/{t.job_id}/status", True)
    return [
        ("home", "/", False),
        ("mapping list", "/mappings", False),
        ("mapping editor", f"/mappings/{t.mapping_id}", False),
        status,
        status,
        status,
        ("api taxonomies", "/api/v1/taxonomies", False),
        ("api mappings", "/api/v1/mappings", False),
        ("api jobs", "/api/v1/jobs", False),
        ("api job", f"/api/v1/jobs/{t.job_id}", False),
    ]


def _server_ms(response: httpx.Response) -> float | None:
    match = re.search(r"app;dur=([\d.]+)", response.headers.get("server-timing", ""))
    return float(match.group(1)) if match else None


async def _user(http: httpx.AsyncClient, target: Target, stats: Stats, deadline: float, think: float) -> None:
    rng = random.Random()
    await asyncio.sleep(rng.uniform(0, think))  # users do not all arrive at once
    while time.monotonic() < deadline:
        mix = _requests(target)  # the job id changes when the job is resubmitted
        kind, url, htmx = rng.choice(mix)
        if kind.startswith("api") and "authorization" not in http.headers:
            kind, url, htmx = mix[3]  # browser users poll the status instead of calling the API
        headers = {"HX-Request": "true"} if htmx else {}
        started = time.perf_counter()
        try:
            response = await http.get(url, headers=headers)
        except httpx.HTTPError as exc:
            stats.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
        else:
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                stats.errors.append(f"{kind}: HTTP {response.status_code} {response.text[:160]}")
            else:
                stats.client_ms.append(elapsed)
                stats.by_kind.setdefault(kind, []).append(elapsed)
                server = _server_ms(response)
                if server is not None:
                    stats.server_ms.append(server)
        if think > 0:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))


async def _keep_job_running(
    api: httpx.AsyncClient, target: Target, deadline: float, job: dict[str, Any]
) -> None:
    """Resubmit the pseudo-label job whenever it ends; count the seconds one was running."""
    last = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        try:
            row = (await api.get(f"/api/v1/jobs/{target.job_id}")).json()
        except (httpx.HTTPError, ValueError):
            continue
        if row.get("status") == "running":
            job["running_s"] += now - last
            job["images_done_max"] = max(job["images_done_max"], int(row["progress_current"]))
        last = now
        if row.get("status") in TERMINAL:
            job["ended"].append(row["status"])
            response = await api.post("/api/v1/jobs", json={"params": target.params})
            if response.status_code == 201:
                target.job_id = int(response.json()["id"])
                job["submitted"] += 1


async def _wait_job(api: httpx.AsyncClient, job_id: int, want: tuple[str, ...], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = str((await api.get(f"/api/v1/jobs/{job_id}")).json()["status"])
        if status in want:
            return status
        await asyncio.sleep(0.3)
    raise RuntimeError(f"job {job_id} did not reach {want} in {timeout:.0f} s")


async def _phase(
    base: str, target: Target, args: argparse.Namespace, phase: str, server_pid: int
) -> dict[str, Any]:
    stats = Stats()
    # Idle keep-alive connections are dropped before uvicorn's 5 s timeout closes them: reusing one
    # the server is closing at that moment is a client-side race (a browser retries those).
    limits = httpx.Limits(
        max_connections=args.clients + 4, max_keepalive_connections=args.clients + 4, keepalive_expiry=2.0
    )
    bearer = {"Authorization": f"Bearer {target.token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits, headers=bearer) as api:
        # Browser users share the session of one login (a one-time login URL works once).
        browsers = [
            httpx.AsyncClient(base_url=base, timeout=60, cookies=target.cookies, limits=limits)
            for _ in range(args.clients - args.clients // 2)
        ]
        job: dict[str, Any] = {"running_s": 0.0, "submitted": 0, "ended": [], "images_done_max": 0}
        if phase == "job":
            response = await api.post("/api/v1/jobs", json={"params": target.params})
            response.raise_for_status()
            target.job_id = int(response.json()["id"])
            await _wait_job(api, target.job_id, ("running",), 300)
            job["submitted"] = 1
        procs = _processes(server_pid)
        cpu_before = {k: sum(_cpu_seconds(p) for p in v) for k, v in procs.items()}
        started = time.monotonic()
        deadline = started + args.duration
        users = [_user(api, target, stats, deadline, args.think) for _ in range(args.clients // 2)]
        users += [_user(b, target, stats, deadline, args.think) for b in browsers]
        keeper = [_keep_job_running(api, target, deadline, job)] if phase == "job" else []
        await asyncio.gather(*users, *keeper)
        elapsed = time.monotonic() - started
        cpu = {k: sum(_cpu_seconds(p) for p in v) - cpu_before[k] for k, v in procs.items()}
        for browser in browsers:
            await browser.aclose()
        if phase == "job":  # stop the job so the next phase starts idle
            await api.post(f"/api/v1/jobs/{target.job_id}/cancel")
        health = (await api.get("/api/v1/health")).json()
    summary = _summary(phase, stats, elapsed, job if phase == "job" else None, health)
    answered = max(1, len(stats.client_ms))
    summary["web_cpu_ms_per_request"] = round(cpu["web"] * 1000 / answered, 2)
    summary["cpu_cores_used"] = {k: round(v / elapsed, 2) for k, v in cpu.items()}
    return summary


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _summary(phase: str, stats: Stats, elapsed: float, job: Any, health: dict[str, Any]) -> dict[str, Any]:
    count = len(stats.client_ms) + len(stats.errors)
    p99 = _pct(stats.client_ms, 0.99)
    out: dict[str, Any] = {
        "phase": phase,
        "requests": count,
        "errors": len(stats.errors),
        "error_samples": sorted(set(stats.errors))[:10],
        "requests_per_s": round(count / elapsed, 1),
        "client_ms": {
            "p50": _pct(stats.client_ms, 0.5),
            "p95": _pct(stats.client_ms, 0.95),
            "p99": p99,
            "max": _pct(stats.client_ms, 1.0),
        },
        "server_ms": {q: _pct(stats.server_ms, v) for q, v in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "client_p99_ms_by_kind": {k: _pct(v, 0.99) for k, v in sorted(stats.by_kind.items())},
        "pool_after": health.get("db_pool"),
        "goal_met": not stats.errors and p99 is not None and p99 <= GOALS_P99_MS[phase],
    }
    if job is not None:
        out["job"] = {**job, "running_fraction": round(job["running_s"] / elapsed, 2)}
    return out


# --- driver ---------------------------------------------------------------------------------------


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-load-{backend}-"))
    drop = None
    if backend == "sqlite":
        database_url = f"sqlite:///{tmp / 'unilabel.db'}"
    else:
        database_url, drop = _postgres_database(os.environ.get("UNILABEL_BENCH_POSTGRES_URL", DEFAULT_PG_URL))
    try:
        env = _env(tmp, database_url, args)
        port = _free_port()
        prepared = _prepare(env, port, args.images)
        proc = _start_server(env, port, args.web_workers, tmp / "serve.log")
        try:
            base = f"http://127.0.0.1:{port}"
            target = asyncio.run(_target(base, prepared))
            phases = [asyncio.run(_phase(base, target, args, phase, proc.pid)) for phase in args.phases]
        finally:
            _stop_server(proc)
        return {"backend": backend, "phases": phases}
    finally:
        if drop is not None:
            drop()


async def _target(base: str, prepared: dict[str, Any]) -> Target:
    """Find the demo mapping and run one small job to completion (what the idle phase polls)."""
    headers = {"Authorization": f"Bearer {prepared['token']}"}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as api:
        mappings = (await api.get("/api/v1/mappings", params={"q": "demo-streets"})).json()["items"]
        params = {**prepared["params"], "max_images": 2, "name": "load benchmark warm-up"}
        response = await api.post("/api/v1/jobs", json={"params": params})
        response.raise_for_status()
        job_id = int(response.json()["id"])
        await _wait_job(api, job_id, TERMINAL, 300)
    async with httpx.AsyncClient(base_url=base, timeout=60) as browser:
        if (await browser.get(prepared["login"])).status_code != 303:
            raise RuntimeError("the login URL was refused")
        cookies = dict(browser.cookies.items())
    return Target(prepared["token"], cookies, int(mappings[0]["id"]), job_id, prepared["params"])


def _markdown(results: list[dict[str, Any]]) -> str:
    rows = [
        "| database | phase | requests | errors | req/s | client p50 | p95 | p99 | server p99 "
        "| web CPU / request | job running |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        for p in result["phases"]:
            c, s = p["client_ms"], p["server_ms"]
            running = f"{p['job']['running_fraction']:.0%}" if "job" in p else "–"
            rows.append(
                f"| {result['backend']} | {p['phase']} | {p['requests']} | {p['errors']} | "
                f"{p['requests_per_s']} | {c['p50']} ms | {c['p95']} ms | {c['p99']} ms | "
                f"{s['p99']} ms | {p['web_cpu_ms_per_request']} ms | {running} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per phase")
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a user's requests")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--phases", nargs="+", default=["idle", "job"], choices=["idle", "job"])
    parser.add_argument("--web-workers", type=int, default=1, help="unilabel serve --workers")
    parser.add_argument("--images", type=int, default=300, help="synthetic images in the demo dataset")
    parser.add_argument("--torch-threads", type=int, default=1, help="torch threads of the job's worker")
    args = parser.parse_args()
    if args.clients < 2:
        parser.error("--clients must be at least 2 (half bearer, half browser)")
    load_before = os.getloadavg()
    results = [run_backend(backend, args) for backend in args.backends]
    report = {
        "benchmark": "load",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {k: v for k, v in vars(args).items()},
        "goals_p99_ms": GOALS_P99_MS,
        "results": results,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        },
    }
    print(json.dumps(report, indent=2))
    print(_markdown(results), file=sys.stderr)


if __name__ == "__main__":
    main()
