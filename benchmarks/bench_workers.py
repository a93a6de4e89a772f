"""Two workers vs one on a sharded pseudo-labeling job (tiny teacher, CPU, serverless broker).

Usage: ``python benchmarks/bench_workers.py [--images 240] [--shard-size 20] [--threads 1]``

Each worker is a real ``celery worker`` process (solo pool) limited to ``--threads`` torch threads,
so two workers use twice the cores of one. Workers are started and ready before the job is
submitted; the time measured is submission -> job succeeded (as the job row records it).
Prints a Markdown row for ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _env(tmp: Path, threads: int) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(REPO),
        UNILABEL_DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite'}",
        UNILABEL_BROKER_URL=f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        UNILABEL_DATA_DIR=str(tmp / "data"),
        UNILABEL_SECRET_KEY="benchmark-secret-0123456789",
        UNILABEL_TORCH_THREADS=str(threads),
        OMP_NUM_THREADS=str(threads),
    )


def _start_workers(n: int, env: dict[str, str], tmp: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        log = (tmp / f"w{i}.log").open("wb")
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app",
            "worker",
            "--pool=solo",
            f"--hostname=bench{i}@%h",
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        procs.append(
            subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all("ready on" in (tmp / f"w{i}.log").read_text(errors="replace") for i in range(n)):
            return procs
        time.sleep(0.2)
    logs = "\n".join(
        f"--- w{i}\n" + (tmp / f"w{i}.log").read_text(errors="replace")[-2000:] for i in range(n)
    )
    raise RuntimeError(f"workers did not become ready in 120 s:\n{logs}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(workers: int, args: argparse.Namespace, teacher: Path) -> tuple[float, float]:
    """(seconds from submission to success, CPU cores the workers used meanwhile) with ``workers``."""
    tmp = Path(tempfile.mkdtemp(prefix=f"bench-w{workers}-"))
    env = _env(tmp, args.threads)
    os.environ.update({k: v for k, v in env.items() if k.startswith("UNILABEL_")})
    from app.config import get_settings
    from app.db.migrate import upgrade_database
    from app.db.session import make_engine, make_sessionmaker, unit_of_work
    from app.queue import get_celery
    from app.schemas.jobs import PseudoLabelParams
    from app.services import jobs
    from worker.demo import make_dataset, register_demo

    get_settings.cache_clear()
    get_celery.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.database_url)
    root = make_dataset(
        settings.data_dir / "streets", count=args.images, height=args.height, width=args.width
    )
    shutil.copytree(teacher, settings.data_dir / "teacher")
    factory = make_sessionmaker(make_engine(settings.database_url))
    with unit_of_work(factory) as s:
        ids = register_demo(s, settings, dataset_root=root, teacher_dir=settings.data_dir / "teacher")
    procs = _start_workers(workers, env, tmp)
    try:
        params = PseudoLabelParams(
            model_id=ids.model_id,
            dataset_id=ids.dataset_id,
            tta=args.tta,
            mapping_version_id=ids.mapping_version_id,
            shard_size=args.shard_size,
        )
        started = time.perf_counter()
        cpu_before = sum(_cpu_seconds(p.pid) for p in procs)
        with unit_of_work(factory) as s:
            job_id = jobs.submit_job(s, params=params, settings=settings).id
        while True:
            with factory() as s:
                job = jobs.get_job(s, job_id)
                if job.status in ("succeeded", "failed", "cancelled"):
                    break
            time.sleep(0.2)
        elapsed = time.perf_counter() - started
        cores = (sum(_cpu_seconds(p.pid) for p in procs) - cpu_before) / elapsed
        if job.status != "succeeded":
            raise RuntimeError(f"job ended {job.status}: {job.error}")
        return elapsed, cores
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=240)
    parser.add_argument("--shard-size", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--tta", action="store_true", help="flip + paper scales (8 views)")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved 1-worker/2-worker pairs")
    args = parser.parse_args()
    from worker.demo import make_teacher

    teacher = make_teacher(Path(tempfile.mkdtemp(prefix="bench-teacher-")) / "tiny")
    ones, twos = [], []
    for _ in range(args.repeats):  # interleaved, so that a load spike hits both sides alike
        ones.append(run(1, args, teacher))
        twos.append(run(2, args, teacher))
    one = statistics.median(t for t, _ in ones)
    two = statistics.median(t for t, _ in twos)
    cores1 = statistics.median(c for _, c in ones)
    cores2 = statistics.median(c for _, c in twos)
    runs = ", ".join(f"{a:.1f}/{b:.1f}" for (a, _), (b, _) in zip(ones, twos, strict=True))
    print(
        f"| {args.images} images {args.height}x{args.width}, shards of {args.shard_size}, tta={args.tta}, "
        f"{args.threads} torch thread(s)/worker, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"runs (1 worker/2 workers, s) {runs} "
        f"| median {one:.1f} s ({cores1:.2f} cores) | median {two:.1f} s ({cores2:.2f} cores) "
        f"| {one / two:.2f}x |"
    )


if __name__ == "__main__":
    main()
