"""The newcomer's first pseudo-label job: `make run`'s demo, the job form's defaults, Submit -> results.

Usage: ``python benchmarks/bench_demo_job.py [--repeat 3]``

What a new user does, in a fresh data folder: ``unilabel db upgrade``, ``unilabel demo ml`` (the
24 synthetic images and the tiny teacher of ``make run``), a worker started as ``unilabel serve``
starts its embedded one (``unilabel worker``, default threads), ready before Submit. Then the
pseudo-label job with the web form's default options (``app.web.pages.job_forms.DEFAULTS``: whole-view
TTA, priors on, the default shard size), submitted through the same service the form calls. The
time is from the submission to the job row's ``succeeded`` (its results page then renders). The
first job is what a newcomer sees (the worker loads the teacher); later ones are the same job again.
Goal (issue 11): <= 60 s on a quiet 2-core machine. Prints Markdown rows for docs/benchmarks.md.
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
UNILABEL = str(Path(sys.executable).with_name("unilabel"))


def _env(tmp: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(REPO),
        UNILABEL_DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite'}",
        UNILABEL_BROKER_URL=f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        UNILABEL_DATA_DIR=str(tmp / "data"),
        UNILABEL_SECRET_KEY="benchmark-secret-0123456789",
    )


def _wait_ready(log: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if "ready on" in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"the worker did not become ready:\n{log.read_text(errors='replace')[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="jobs after the first (same worker)")
    parser.add_argument("--batch-size", type=int, default=None, help="override the default (comparison)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-demo-"))
    env = _env(tmp)
    os.environ.update({k: v for k, v in env.items() if k.startswith("UNILABEL_")})
    for step in (["db", "upgrade"], ["demo", "ml"]):
        subprocess.run([UNILABEL, *step], env=env, check=True, capture_output=True)

    from app.config import get_settings
    from app.db import repositories_registry as registry
    from app.db.session import make_engine, make_sessionmaker, unit_of_work
    from app.demo import ML_DEMO_DATASET, ML_DEMO_MAPPING, ML_DEMO_MODEL
    from app.queue import get_celery
    from app.schemas.jobs import PseudoLabelParams
    from app.services import jobs, mappings
    from app.web.pages.job_forms import DEFAULTS

    get_settings.cache_clear()
    get_celery.cache_clear()
    settings = get_settings()
    factory = make_sessionmaker(make_engine(settings.database_url))
    with factory() as s:
        dataset = registry.get_dataset_by_name(s, ML_DEMO_DATASET)
        model = registry.get_model_by_name(s, ML_DEMO_MODEL)
        version = mappings.current_version(s, mappings.get_mapping_by_name(s, ML_DEMO_MAPPING).id)
        assert dataset is not None and model is not None
        ids = (dataset.id, model.id, version.id)
    log = tmp / "worker.log"
    worker = subprocess.Popen(
        [UNILABEL, "worker"],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    times: list[float] = []
    try:
        _wait_ready(log, worker)
        for run in range(1 + args.repeat):
            params = PseudoLabelParams(
                dataset_id=ids[0],
                model_id=ids[1],
                mapping_version_id=ids[2],
                tta=DEFAULTS["tta"] == "1",
                use_priors=DEFAULTS["use_priors"] == "1",
                shard_size=int(DEFAULTS["shard_size"]),
                output_name=f"demo-{run}",
                **({"batch_size": args.batch_size} if args.batch_size else {}),
            )
            started = time.perf_counter()
            with unit_of_work(factory) as s:
                job_id = jobs.submit_job(s, params=params, settings=settings).id
            while True:
                with factory() as s:
                    job = jobs.get_job(s, job_id)
                    if job.status in ("succeeded", "failed", "cancelled"):
                        break
                time.sleep(0.1)
            if job.status != "succeeded":
                raise RuntimeError(f"job ended {job.status}: {job.error}")
            times.append(time.perf_counter() - started)
            with factory() as s:
                summary = jobs.read_summary(s, job_id)
            labelled = summary.get("written", 0) + summary.get("skipped_existing", 0)
            if labelled != summary.get("total") or summary.get("failed"):
                raise RuntimeError(f"the job did not label every image: {summary}")
            views = len(summary.get("views") or ())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    options = (
        f"{labelled} images, tta={params.tta} ({views} whole views), use_priors={params.use_priors}, "
        f"batch_size={params.batch_size}, shard_size={params.shard_size}"
    )
    print(f"| first job (newcomer) | {times[0]:.1f} s | {options} |")
    if len(times) > 1:
        later = times[1:]
        print(f"| same job again, median of {len(later)} | {statistics.median(later):.1f} s | {options} |")


if __name__ == "__main__":
    main()
