"""Server time of one edge toggle in the mapping editor on a 66 x 63 mapping (issue 5; goal p95 <= 30 ms).

What is timed: the whole HTMX request ``POST /mappings/{id}/edges`` inside the ASGI app (CSRF and
login check, stale-version check, new immutable version, validation report, rendering of the
out-of-band fragments), measured by a wrapper around the app, so the HTTP client is not counted.
The client round trip (Starlette TestClient, in process) is reported as well.

Data: Mapillary Vistas ``labels.csv`` (66 labels) and ``master_labels_mapillary.csv`` (63 classes)
from ``../shared/reference-lists`` when present, else a synthetic 66 x 63 mapping of the same
shape. SQLite file database migrated by Alembic, as ``make run`` uses.

Usage:  .venv/bin/python benchmarks/bench_edge_toggle.py [--n 300] [--view matrix|rows|both]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from fastapi.testclient import TestClient  # noqa: E402

from app.config import load_settings  # noqa: E402
from app.db.migrate import upgrade_database  # noqa: E402
from app.domain.taxonomy import Label, Taxonomy  # noqa: E402
from app.services import mappings as mapping_service  # noqa: E402
from app.services import taxonomies as taxonomy_service  # noqa: E402
from app.services import taxonomy_files  # noqa: E402
from app.services import users as user_service  # noqa: E402
from app.web.main import create_app  # noqa: E402

SHARED = REPO_ROOT.parent / "shared" / "reference-lists" / "mapillary-vistas"
PASSWORD = "bench password"


class ServerTimer:
    """ASGI wrapper recording the time from receiving a request to sending the last body chunk.

    ``samples`` is wall time; ``cpu_samples`` is the process CPU time over the same span, which
    does not count time spent waiting for a CPU, so it stays meaningful on a busy shared machine
    (in WAL mode with synchronous=NORMAL a commit does not wait for the disk).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.samples: list[float] = []
        self.cpu_samples: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/edges"):
            await self.app(scope, receive, send)
            return
        start, cpu_start = time.perf_counter(), time.process_time()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.samples.append((time.perf_counter() - start) * 1000)
                self.cpu_samples.append((time.process_time() - cpu_start) * 1000)

        await self.app(scope, receive, timed_send)


def _seed(factory: Any) -> tuple[int, list[str], list[int], str]:
    with factory() as s:
        user_service.create_user(s, name="bench", role="editor", password=PASSWORD)
        if SHARED.is_dir():
            source = taxonomy_files.import_taxonomy(
                s,
                text=(SHARED / "labels.csv").read_text(encoding="utf-8"),
                fmt="labels_csv",
                name="Mapillary Vistas",
            )
            result = mapping_service.import_master_labels(
                s,
                text=(SHARED / "master_labels_mapillary.csv").read_text(encoding="utf-8"),
                source_taxonomy_id=source.id,
                name="bench",
                target_name="Mapillary 63",
            )
            mapping, data = result.mapping, "reference (Mapillary Vistas 66 -> Mapillary 63)"
        else:
            src = Taxonomy("synthetic source", tuple(Label(i, f"source-label-{i:02d}") for i in range(66)))
            tgt = Taxonomy("synthetic target", tuple(Label(i, f"class-{i:02d}") for i in range(63)))
            source = taxonomy_service.create_taxonomy(s, taxonomy=src)
            target = taxonomy_service.create_taxonomy(s, taxonomy=tgt)
            edges = [(f"source-label-{i:02d}", i % 63) for i in range(66)]
            mapping = mapping_service.create_mapping(
                s, name="bench", source_taxonomy_id=source.id, target_taxonomy_id=target.id, edges=edges
            )
            data = "synthetic 66 x 63 (../shared not present)"
        names = list(taxonomy_service.load_taxonomy(s, mapping.source_taxonomy_id).names)
        targets = list(taxonomy_service.load_taxonomy(s, mapping.target_taxonomy_id).values) + [255]
        s.commit()
        return mapping.id, names, targets, data


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def run(n: int, view: str) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    url = f"sqlite:///{tmp / 'bench.db'}"
    upgrade_database(url)
    settings = load_settings(
        database_url=url,
        broker_url="memory://",
        data_dir=tmp / "data",
        secret_key="bench-secret-key-0123456789abcdef",
    )
    app = create_app(settings)
    timer = ServerTimer(app)
    mapping_id, names, targets, data = _seed(app.state.session_factory)
    client = TestClient(timer)
    login = client.get("/login").text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', login).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf})
    page = client.get(f"/mappings/{mapping_id}?view={view}").text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    base = int(re.search(r'name="base_version" value="(\d+)"', page).group(1))  # type: ignore[union-attr]
    rng = random.Random(0)
    on: set[tuple[str, int]] = set()
    client_ms: list[float] = []
    for i in range(n + 20):  # the first 20 warm caches and are not counted
        source, target = rng.choice(names), rng.choice(targets)
        op = "remove" if (source, target) in on else "add"
        start = time.perf_counter()
        r = client.post(
            f"/mappings/{mapping_id}/edges",
            data={"source": source, "target": target, "op": op, "base_version": base, "view": view},
            headers={"HX-Request": "true", "X-CSRF-Token": csrf},
        )
        elapsed = (time.perf_counter() - start) * 1000
        assert r.status_code == 200, r.text[:300]
        on.symmetric_difference_update({(source, target)})
        base = int(re.search(r'name="base_version" value="(\d+)"', r.text).group(1))  # type: ignore[union-attr]
        if i >= 20:
            client_ms.append(elapsed)
    server_ms = timer.samples[20:]
    cpu_ms = timer.cpu_samples[20:]
    return {
        "cpu_p50": statistics.median(cpu_ms),
        "cpu_p95": _percentile(cpu_ms, 95),
        "view": view,
        "n": len(server_ms),
        "data": data,
        "versions": base,
        "server_p50": statistics.median(server_ms),
        "server_p95": _percentile(server_ms, 95),
        "server_p99": _percentile(server_ms, 99),
        "client_p50": statistics.median(client_ms),
        "client_p95": _percentile(client_ms, 95),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="timed toggles per view")
    parser.add_argument("--view", choices=("matrix", "rows", "both"), default="both")
    args = parser.parse_args()
    views = ("matrix", "rows") if args.view == "both" else (args.view,)
    ok = True
    load = os.getloadavg()[0]
    print(
        "| view | toggles | server p50 | server p95 | server p99 | server CPU p50 | server CPU p95 "
        "| client p95 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for view in views:
        res = run(args.n, view)
        ok &= res["server_p95"] <= 30.0
        print(
            f"| {res['view']} | {res['n']} | {res['server_p50']:.1f} ms | {res['server_p95']:.1f} ms | "
            f"{res['server_p99']:.1f} ms | {res['cpu_p50']:.1f} ms | {res['cpu_p95']:.1f} ms | "
            f"{res['client_p95']:.1f} ms |"
        )
    print(
        f"\ndata: {res['data']}; {os.cpu_count()} CPUs, load average {load:.1f} at start, "
        f"{os.getloadavg()[0]:.1f} at end; goal server p95 <= 30 ms: {'met' if ok else 'NOT met'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
