"""Sharded pseudo-labeling on disk (task adapter layer): plan, repair, merge.

* :func:`write_pairs` fixes the job's pair list once (``pairs.jsonl`` in the output folder), so
  every shard reads the same slice whatever worker runs it and whenever it is retried.
* :func:`add_shards` inserts the shard rows *and their task messages* (outbox rows) in the planner's
  transaction: once the plan is committed its shards reach the broker, even if the planner is killed
  the next instant (a relay in any other process sends them); before the commit nothing exists,
  and the parent's lapsed lease gets it planned again.
* :func:`repair_shard` makes a resumed shard idempotent: a label file whose manifest record was
  lost (the worker died between the PNG rename and the manifest append) is deleted and redone, so
  the merged manifest holds every image exactly once. Temp files of killed writers are removed.
* :func:`merge_outputs` writes ``manifest.jsonl`` (dataset order, one record per image) and returns
  the merged summary (totals and per-source-label histograms over all shards); finalize completes it
  with the failed and skipped images and writes ``summary.json`` once
  (:func:`worker.job_summary.complete_summary`).
* :func:`finish_parent` ends a sharded job once its finalize has merged the shards: failed when a
  shard failed, cancelled when one was (or the job was flagged), succeeded otherwise.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_registry import Job
from app.domain.pairing import Pair
from app.queue import TASK_PSEUDO_LABEL_SHARD, after_commit, enqueue_after_commit
from app.services.jobs import log
from worker.job_summary import image_provenance
from worker.ml.io import write_atomic
from worker.ml.outputs import merge_summaries, named_histogram, output_relpath, read_manifests

PAIRS_FILE = "pairs.jsonl"
# The task a shard of each sharded kind runs as (the shard task picks its body by the job's kind;
# ``worker.recovery`` re-sends a lapsed shard by this table too).
SHARD_TASK_OF_KIND = {
    "pseudo_label": TASK_PSEUDO_LABEL_SHARD,
    "survey": TASK_PSEUDO_LABEL_SHARD,
    "convert_labels": TASK_PSEUDO_LABEL_SHARD,
}
# Test hook of the kill tests: SIGKILL the planner right after its commit, before any send.
KILL_AFTER_PLAN_ENV = "UNILABEL_TEST_KILL_AFTER_PLAN_COMMIT"


def shard_bounds(count: int, shard_size: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` slices of ``count`` pairs, at most ``shard_size`` each."""
    return [(start, min(count, start + shard_size)) for start in range(0, count, shard_size)]


def shard_tag(index: int) -> str:
    return f"{index:05d}"


def write_pairs(out_dir: Path, pairs: Sequence[Pair], *, name: str = PAIRS_FILE) -> None:
    lines = "".join(json.dumps({"image": p.image, "label": p.label, "split": p.split}) + "\n" for p in pairs)
    write_atomic(out_dir / name, lines.encode("utf-8"))


def add_shards(session: Session, job: Job, bounds: Sequence[tuple[int, int]]) -> list[Job]:
    """One queued child row per ``(start, end)`` slice of ``job``, each with its task message queued
    in the same transaction (the caller commits)."""
    if os.environ.get(KILL_AFTER_PLAN_ENV) == "1":
        after_commit(session, lambda: os.kill(os.getpid(), signal.SIGKILL))
    shards = [
        Job(
            kind=job.kind,
            status="queued",
            name=f"{job.name} shard {index}",
            parent_id=job.id,
            shard_index=index,
            queue=job.queue,
            progress_total=end - start,
            params_json=json.dumps({"start": start, "end": end}),
            dataset_id=job.dataset_id,
            model_id=job.model_id,
            mapping_version_id=job.mapping_version_id,
            mapping_hash=job.mapping_hash,
            output_dir=job.output_dir,
        )
        for index, (start, end) in enumerate(bounds)
    ]
    session.add_all(shards)
    session.flush()
    for shard in shards:
        enqueue_after_commit(session, SHARD_TASK_OF_KIND[job.kind], queue=job.queue, job_id=shard.id)
    return shards


def finish_parent(
    session: Session, job: Job, shards: Sequence[Job], *, result: dict[str, Any], message: str
) -> None:
    """End the parent ``job`` of ``shards`` with ``result`` as its result, and log how it ended.

    The status comes from the shards: failed when any failed (the error names the first), else
    cancelled when any was or the job was flagged, else succeeded. ``message`` is the job's line
    unless a shard failed, when the error is. Rolls the shards' progress up first.
    """
    failed = [sh for sh in shards if sh.status == "failed"]
    cancelled = job.cancel_requested or any(sh.status == "cancelled" for sh in shards)
    status = "failed" if failed else "cancelled" if cancelled else "succeeded"
    error = f"{len(failed)} of {len(shards)} shard(s) failed: {failed[0].error}" if failed else None
    message = error or message
    repo.roll_up_progress(session, job.id)
    repo.finish_job(
        session,
        job.id,
        None,
        status=status,
        message=message,
        error=error,
        finished_at=utcnow(),
        result_json=json.dumps(result),
    )
    log(session, job.id, f"finished {status}: {message}", level="error" if failed else "info")


def read_pairs(
    out_dir: Path, start: int = 0, end: int | None = None, *, name: str = PAIRS_FILE
) -> list[Pair]:
    rows = (out_dir / name).read_text(encoding="utf-8").splitlines()[start:end]
    return [Pair(image=r["image"], label=r["label"], split=r.get("split")) for r in map(json.loads, rows)]


def remove_temp_files(out_dir: Path) -> int:
    """Delete ``.<name>.*.tmp`` files left by writers that were killed mid-write."""
    removed = 0
    for sub in ("labels", "confidence"):
        base = out_dir / sub
        if base.is_dir():
            for tmp in base.rglob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def repair_shard(out_dir: Path, pairs: Sequence[Pair], tag: str, *, use_labels: bool) -> int:
    """Delete outputs of this shard that have no "ok" manifest record; returns how many."""
    records = read_manifests([out_dir / f"manifest.{tag}.jsonl"])
    removed = 0
    for pair in pairs:
        rel = output_relpath(pair.image, pair.label if use_labels else None)
        if rel in records:
            continue
        for sub in ("labels", "confidence"):
            path = out_dir / sub / rel
            if path.exists():
                path.unlink()
                removed += 1
    return removed


def _all_records(paths: Sequence[Path]) -> dict[str, dict[str, Any]]:
    """Last record per image over the shard manifests (an "ok" record beats an error)."""
    best: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a killed writer
            image = rec.get("image")
            if image is None or (best.get(image, {}).get("status") == "ok" and rec.get("status") != "ok"):
                continue
            best[image] = rec
    return best


def merge_outputs(
    out_dir: Path,
    *,
    shard_tags: Sequence[str],
    source_names: dict[int, str],
    unknown_row: int | None,
    job_id: int | None = None,
) -> dict[str, Any]:
    """Write ``manifest.jsonl`` from the shards' files; return the merged summary (not yet written:
    ``job_summary.complete_summary`` adds the failed and skipped images and writes ``summary.json``).

    With ``job_id``, every "ok" record without one gets its ``provenance`` (labelled by that run;
    an update run's carried-over records already have theirs)."""
    pairs = read_pairs(out_dir)
    summaries = [
        json.loads(p.read_text(encoding="utf-8"))
        for t in shard_tags
        if (p := out_dir / f"summary.{t}.json").is_file()
    ]
    merged = merge_summaries(summaries)
    provenance = image_provenance(merged, job_id) if job_id is not None else None
    records = _all_records([out_dir / f"manifest.{t}.jsonl" for t in shard_tags])
    lines, missing = [], 0
    for pair in pairs:
        rec = records.get(pair.image)
        if rec is None:
            missing += 1
            rec = {"image": pair.image, "label": pair.label, "status": "missing"}
        elif provenance is not None and rec.get("status") == "ok":
            rec.setdefault("provenance", provenance)
        lines.append(json.dumps(rec, sort_keys=True) + "\n")
    write_atomic(out_dir / "manifest.jsonl", "".join(lines).encode("utf-8"))
    class_names = tuple(merged.get("class_names", ()))
    merged["histogram_named"] = (
        named_histogram(merged.get("histogram", {}), source_names, class_names, unknown_row)
        if class_names
        else {}
    )
    ok = sum(1 for line in lines if '"status": "ok"' in line)
    merged |= {
        "images": len(pairs),
        "images_ok": ok,
        "images_missing": missing,
        "images_failed": len(pairs) - ok - missing,
    }
    return merged
