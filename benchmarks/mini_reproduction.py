"""Miniature reproduction of the method (arXiv 2502.19177) run through the product's experiments.

The synthetic fine-source / coarse-extras domain of ``unilabel demo ml`` at the benchmark's sizes
(``benchmarks/mini_repro_specs.py``), run the way a user runs it: a temporary SQLite database, the
serverless SQLite broker and ``--workers`` real Celery worker processes; the datasets and approved
mappings registered with the demo builders; for every training seed two spec files written to
``<out>/specs/`` and submitted through the experiment service (``create_experiment``, what
``unilabel experiment run spec.yaml`` and ``POST /api/v1/experiments`` call):

1. **the method**: a teacher trained on the clear-weather fine source, both coarse extras
   pseudo-labelled with the coarse -> fine priors, a student trained from scratch on source ground
   truth + pseudo-labels, teacher and student evaluated on every evaluation set;
2. **the ablation** (``use_priors: false``), submitted once the method's teacher is trained: the same
   teacher (named as a registered model), pseudo-labels without priors, a student on those.

Evaluation sets: source val (which picks each model's best checkpoint), the held-out test set
(whole and per condition) and the extras' images with their hidden fine truth. The pseudo-label
runs themselves are also scored against the hidden fine truth. Results (the experiment services'
tables rendered by ``app.domain.experiment_results``, plus medians over seeds) go to
``<out>/results.md`` and ``<out>/results.json``; docs/reproduction.md holds them.

Usage::

    .venv/bin/python benchmarks/mini_reproduction.py --quick --out /tmp/mr-quick      # minutes
    .venv/bin/python benchmarks/mini_reproduction.py --out /tmp/mr --seeds 0 1 2 --workers 2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import mini_repro_specs as mr  # noqa: E402

TERMINAL = ("succeeded", "failed", "cancelled")


def product_env(work: Path, threads: int) -> dict[str, str]:
    """The ``UNILABEL_*`` settings of this run (set here too, so that this process talks to them)."""
    values = {
        "UNILABEL_DATABASE_URL": f"sqlite:///{work / 'unilabel.db'}",
        "UNILABEL_BROKER_URL": f"sqla+sqlite:///{work / 'broker.sqlite'}",
        "UNILABEL_DATA_DIR": str(work / "data"),
        "UNILABEL_ALLOWED_DATA_ROOTS": str(work / "data"),
        "UNILABEL_SECRET_KEY": "mini-reproduction-secret-0123456789",
        "UNILABEL_JOB_SWEEP_S": "2",
        "UNILABEL_OUTBOX_POLL_S": "0.5",
        "UNILABEL_TORCH_THREADS": str(threads),
    }
    os.environ.update(values)
    return dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(threads), **values)


def start_workers(n: int, env: dict[str, str], work: Path) -> list[subprocess.Popen[bytes]]:
    """``n`` ``celery worker --pool=solo`` processes, returned once each has logged that it is ready."""
    procs = []
    for i in range(n):
        log = (work / f"worker-{i}.log").open("wb")
        cmd = [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool=solo",
               f"--hostname=mini{i}@%h", "--loglevel=warning", "--without-gossip", "--without-mingle",
               "--without-heartbeat"]  # fmt: skip
        procs.append(
            subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if all("ready on" in (work / f"worker-{i}.log").read_text(errors="replace") for i in range(n)):
            return procs
        time.sleep(0.5)
    stop_workers(procs)
    raise RuntimeError(f"workers not ready after 300 s; see {work}/worker-*.log")


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """A warm shutdown (the current task finishes) for up to 30 s each, then SIGKILL."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def submit(factory: Any, settings: Any, spec_path: Path) -> int:
    """Create the experiment of ``spec_path`` (validated, resolved, run 1 started); its id."""
    from app.cli_experiments import read_spec
    from app.db.session import unit_of_work
    from app.schemas.experiments import ExperimentSpec
    from app.services import experiments

    spec = ExperimentSpec.model_validate(read_spec(spec_path))
    with unit_of_work(factory) as s:
        return int(experiments.create_experiment(s, spec=spec, settings=settings, user_id=None).id)


def stage_jobs(factory: Any, experiment_id: int) -> tuple[str, dict[str, Any]]:
    """(run status, stage key -> job or None) of the experiment's latest run."""
    from app.db import repositories_experiments as repo
    from app.services import experiments

    with factory() as s:
        run = experiments.latest_run(s, experiment_id)
        assert run is not None
        rows = repo.stage_jobs(s, run.id)
        s.expunge_all()
        return run.status, {stage.key: job for stage, job in rows}


@dataclasses.dataclass
class SeedRun:
    seed: int
    method_id: int
    ablation_id: int | None = None
    note: str = ""


def drive(factory: Any, settings: Any, args: argparse.Namespace, sizes: mr.Sizes) -> list[SeedRun]:
    """Submit every seed's method, then its ablation once its teacher is trained; wait for all."""
    specs = args.out / "specs"
    runs = []
    for seed in args.seeds:
        spec = mr.method_spec(sizes, seed, args.device)
        header = "the method: written and submitted by benchmarks/mini_reproduction.py"
        path = mr.write_spec(specs / f"{mr.method_name(seed)}.yaml", spec, header)
        runs.append(SeedRun(seed, submit(factory, settings, path)))
        print(f"seed {seed}: submitted {path}", flush=True)
    deadline, last = time.monotonic() + args.timeout, ""
    while time.monotonic() < deadline:
        states, pending = [], False
        for r in runs:
            status, jobs = stage_jobs(factory, r.method_id)
            teacher = jobs.get("teacher")
            if r.ablation_id is None and not r.note and teacher is not None and teacher.status in TERMINAL:
                _submit_ablation(factory, settings, r, teacher, specs, sizes, args.device)
            states.append(f"seed {r.seed}: method {status} " + _brief(jobs))
            pending |= status == "running"
            if r.ablation_id is not None:
                status, jobs = stage_jobs(factory, r.ablation_id)
                states.append(f"seed {r.seed}: ablation {status} " + _brief(jobs))
                pending |= status == "running"
            pending |= r.ablation_id is None and not r.note
        if "\n".join(states) != last:
            last = "\n".join(states)
            print(time.strftime("%H:%M:%S"), last, sep="\n", flush=True)
        if not pending:
            return runs
        time.sleep(1.0)
    raise TimeoutError(f"the experiments did not end within {args.timeout} s")


def _submit_ablation(
    factory: Any, settings: Any, r: SeedRun, teacher: Any, specs: Path, sizes: mr.Sizes, device: str
) -> None:
    if teacher.status != "succeeded":
        r.note = f"teacher {teacher.status}: no ablation"
        return
    model = json.loads(teacher.result_json)["model_id"]
    with factory() as s:
        from app.db import repositories_registry as registry

        row = registry.get_model(s, int(model))
        assert row is not None
        name = row.name
    spec = mr.ablation_spec(sizes, r.seed, name, device)
    header = f"the ablation: written once {name} was trained, by benchmarks/mini_reproduction.py"
    path = mr.write_spec(specs / f"{mr.ablation_name(r.seed)}.yaml", spec, header)
    r.ablation_id = submit(factory, settings, path)
    print(f"seed {r.seed}: submitted {path}", flush=True)


def _brief(jobs: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for job in jobs.values():
        key = job.status if job is not None else "gone"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def main() -> None:
    args = parse_args()
    sizes = mr.QUICK if args.quick else mr.FULL
    sizes = dataclasses.replace(sizes, iterations=args.iterations or sizes.iterations)
    work = args.out / "product"
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    threads = args.threads
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the workers are stopped too
    env = product_env(work, threads)
    from mini_repro_report import write_report

    from app.config import get_settings
    from app.db.migrate import upgrade_database
    from app.db.session import make_engine, make_sessionmaker, unit_of_work

    started = time.perf_counter()
    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.database_url)
    factory = make_sessionmaker(make_engine(settings.database_url))
    with unit_of_work(factory) as s:
        mr.register(s, settings, settings.data_dir / "scenes", sizes, args.data_seed)
    procs = start_workers(args.workers, env, work)
    try:
        runs = drive(factory, settings, args, sizes)
    finally:
        stop_workers(procs)
    meta = {"command": " ".join(sys.argv), "sizes": dataclasses.asdict(sizes), "workers": args.workers,
            "torch_threads_per_worker": threads, "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(), "wall_seconds": time.perf_counter() - started}  # fmt: skip
    summary = write_report(factory, [dataclasses.asdict(r) for r in runs], args.out, meta)
    print(summary)
    print(f"total wall time {meta['wall_seconds']:.0f} s; tables in {args.out / 'results.md'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/mini-repro"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few minutes")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per worker (more than 1 is slow on a busy CPU)"
    )
    parser.add_argument("--iterations", type=int, default=0, help="training iterations (default: by size)")
    parser.add_argument("--data-seed", type=int, default=1234)
    parser.add_argument("--device", default="auto", help="the specs' device (auto, cpu, cuda)")
    parser.add_argument("--timeout", type=float, default=6 * 3600, help="give up after this many seconds")
    args = parser.parse_args()
    args.out = args.out.resolve()
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    return args


if __name__ == "__main__":
    main()
