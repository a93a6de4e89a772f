"""Benchmark: an incremental update of a pseudo-label run vs a full re-run (issue 12).

Usage: ``python benchmarks/bench_incremental.py [--images 400] [--touched 0.1] [--repeat 3] [--no-tta]``

A fresh SQLite database and data folder; the demo's synthetic street scenes (``worker.demo``) in
which only a ``--touched`` share of the images contains a ``truck``; the tiny random teacher; the
demo's approved mapping (v1). A first run labels every image with v1. Then v2 maps ``truck`` to
another class (one edge), approved. Timed, alternating, in this one process (the teacher stays
loaded in the worker's cache, as in a long-lived worker): a full re-run with v2, and an update of
the v1 run to v2 (``update_from_job_id``). Each job goes through the real Celery task functions
(plan -> shards -> finalize) with the broker replaced by an in-process queue, from submission to the
job row's ``succeeded``. Checks that the update re-labelled exactly the touched images and that its
label files equal the full re-run's. Goal: update <= 0.15x the full re-run. Prints JSON and a
Markdown row for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import emit  # noqa: E402

TRUCK, CAR = 4, 3


def _setup_env(tmp: Path) -> None:
    os.environ |= {
        "UNILABEL_DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite'}",
        "UNILABEL_BROKER_URL": "memory://",
        "UNILABEL_DATA_DIR": str(tmp / "data"),
        "UNILABEL_SECRET_KEY": "benchmark-secret-0123456789",
    }


def _touch_only(root: Path, share: float) -> set[str]:
    """Keep trucks in every ``1/share``-th image that has one (cars elsewhere); return those images."""
    step = max(1, round(1 / share))
    kept: set[str] = set()
    labels = sorted((root / "labels").rglob("*.png"))
    for i, path in enumerate(labels):
        label = np.asarray(Image.open(path)).copy()
        if i % step == 0:
            if TRUCK not in label:  # give it a truck: a block above the bottom rows
                h, w = label.shape
                label[h - h // 4 : h - 2, w // 3 : w // 3 + w // 6] = TRUCK
            kept.add(f"images/{path.parent.name}/{path.name}")
        else:
            label[label == TRUCK] = CAR
        Image.fromarray(label).save(path)
    return kept


class _Queue:
    """The broker, replaced: tasks sent after commit are run here, in order, in this process."""

    def __init__(self) -> None:
        import app.queue
        from worker import tasks  # noqa: F401  (registers the task functions)
        from worker.celery_app import celery_app

        self.celery_app = celery_app
        self.pending: deque[tuple[str, dict[str, Any]]] = deque()
        app.queue.send_task = lambda name, queue=None, **kw: self.pending.append((name, kw))
        celery_app.send_task = lambda name, kwargs=None, **_: self.pending.append((name, dict(kwargs or {})))

    def drain(self) -> None:
        while self.pending:
            name, kwargs = self.pending.popleft()
            self.celery_app.tasks[name](**kwargs)


def _world(tmp: Path, images: int, share: float) -> dict[str, Any]:
    from app.config import get_settings
    from app.db.migrate import upgrade_database
    from app.db.session import make_engine, make_sessionmaker, unit_of_work
    from app.services import mappings, reviews, users
    from worker import context
    from worker.demo import make_dataset, make_teacher, register_demo

    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(str(settings.database_url))
    factory = make_sessionmaker(make_engine(str(settings.database_url)))
    context._factory = factory
    root = make_dataset(settings.data_dir / "streets", count=images, height=96, width=128)
    touched = _touch_only(root, share)
    teacher = make_teacher(settings.data_dir / "teacher")
    with unit_of_work(factory) as s:
        ids = register_demo(s, settings, dataset_root=root, teacher_dir=teacher)
    with unit_of_work(factory) as s:
        admin, _ = users.ensure_local_admin(s)
        v1 = mappings.get_version(s, ids.mapping_version_id)
        v2 = mappings.set_targets(
            s,
            mapping_id=v1.mapping_id,
            source_name="truck",
            target_ids=[2],
            base_version_id=v1.id,
            author=admin,
        )
        reviews.submit_for_review(s, version_id=v2.id, author=admin)
        reviews.approve(s, version_id=v2.id, reviewer=admin, message="bench", four_eyes="off")
        v2_id = v2.id
    return {"settings": settings, "factory": factory, "ids": ids, "v2": v2_id, "touched": touched}


def _run(w: dict[str, Any], queue: _Queue, tta: bool, **params: Any) -> tuple[float, Any]:
    from app.db.session import unit_of_work
    from app.schemas.jobs import PseudoLabelParams
    from app.services import jobs

    base = {
        "model_id": w["ids"].model_id,
        "dataset_id": w["ids"].dataset_id,
        "mapping_version_id": w["ids"].mapping_version_id,
        "tta": tta,
    }
    body = PseudoLabelParams.model_validate(base | params)
    t0 = time.perf_counter()
    with unit_of_work(w["factory"]) as s:
        job_id = jobs.submit_job(s, params=body, settings=w["settings"]).id
    queue.drain()
    seconds = time.perf_counter() - t0
    with unit_of_work(w["factory"]) as s:
        job = jobs.get_job(s, job_id)
        assert job.status == "succeeded", (job.status, job.message, job.error)
        return seconds, jobs.job_payload(s, job)


def _same_labels(a: dict[str, Any], b: dict[str, Any]) -> bool:
    da, db = Path(a["output_dir"]) / "labels", Path(b["output_dir"]) / "labels"
    files = sorted(p.relative_to(da) for p in da.rglob("*.png"))
    return bool(files) and all((da / f).read_bytes() == (db / f).read_bytes() for f in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--touched", type=float, default=0.1, help="share of images with a truck")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        _setup_env(Path(tmp))
        w = _world(Path(tmp), args.images, args.touched)
        queue = _Queue()
        _, old = _run(w, queue, args.tta)  # the v1 run (also warms the teacher cache)
        full_s, update_s = [], []
        for _ in range(args.repeat):
            seconds, full = _run(w, queue, args.tta, mapping_version_id=w["v2"])
            full_s.append(seconds)
            seconds, update = _run(
                w, queue, args.tta, mapping_version_id=w["v2"], update_from_job_id=old["id"]
            )
            update_s.append(seconds)
            assert update["result"]["images_relabelled"] == len(w["touched"]), update["result"]
            assert _same_labels(update, full), "the update's labels differ from the full re-run's"
    full_m, update_m = statistics.median(full_s), statistics.median(update_s)
    command = "python benchmarks/bench_incremental.py " + " ".join(sys.argv[1:])
    data = {
        "images": args.images,
        "relabelled": len(w["touched"]),
        "tta": args.tta,
        "full_rerun_s": full_s,
        "update_s": update_s,
        "full_rerun_median_s": round(full_m, 3),
        "update_median_s": round(update_m, 3),
        "ratio": round(update_m / full_m, 3),
        "goal": "<= 0.15",
        "command": command.strip(),
    }
    emit("incremental_update", data)
    print(
        f"| {args.images} | {len(w['touched'])} ({len(w['touched']) / args.images:.0%}) | "
        f"{'8 views' if args.tta else '1 view'} | {full_m:.2f} s | {update_m:.2f} s | "
        f"**{update_m / full_m:.3f}** |"
    )


if __name__ == "__main__":
    main()
