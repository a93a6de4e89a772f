"""The planner's side of an update run (task adapter layer): carry unaffected outputs over, list the rest.

An update run (``PseudoLabelParams.update_from_job_id``) is a normal sharded pseudo-label job whose
shards label only the images a newer mapping version touches
(:func:`app.services.pseudo_label_updates.update_work`). At planning time :func:`prepare_update`

* hard-links every output file of each carried-over image from the earlier run's folder into the new
  one (a copy only when a link is impossible, e.g. across filesystems; the log says so);
* writes their manifest records, each with its ``provenance`` marked carried over from the earlier
  run, to ``manifest.carried.jsonl``, and their folded statistics to ``summary.carried.json``:
  finalize merges them like one more shard (tag :data:`CARRIED_TAG`);
* writes the pairs to re-label to :data:`RELABEL_FILE`; the shards slice that list, not
  ``pairs.jsonl`` (which keeps every pair of the run, as training and exports expect).

Everything is rewritten from scratch on a re-plan, so a planner killed half-way is simply redone.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models_registry import Job
from app.domain.pairing import Pair
from app.services import pseudo_label_updates as update_service
from app.services.jobs import log
from app.services.pseudo_label_updates import UpdateWork
from worker.job_summary import image_provenance
from worker.ml.io import write_atomic
from worker.ml.outputs import add_view_runs, merge_sparse_histograms
from worker.sharding import write_pairs

RELABEL_FILE = "relabel_pairs.jsonl"
CARRIED_TAG = "carried"
# The earlier run's provenance fields a carried-over summary keeps (``worker.ml.provenance``).
_RUN_KEYS = (
    "model",
    "class_names",
    "mapping_hash",
    "tta_views",
    "tta_upscaled_views",
    "tta_window_overlap",
    "tta_memory_budget_bytes",
    "normalization",
    "device",
    "batch_size",
    "versions",
    "use_priors",
    "any_class_values",
    "threshold",
)
_STAT_KEYS = ("pixels", "void_pixels", "non_void_pixels", "corrected_pixels")
# A link is impossible (not just failing): copy instead.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


@dataclass(slots=True)
class CarryStats:
    images: int = 0
    linked: int = 0
    copied: int = 0
    copy_reason: str = ""


def is_update(params: dict[str, Any]) -> bool:
    return params.get("update_from_job_id") is not None


def prepare_update(session: Session, job: Job, out_dir: Path, pairs: list[Pair]) -> list[Pair]:
    """Carry the unaffected images of the earlier run over; return the pairs to re-label."""
    work = update_service.update_work(session, job, pairs)
    carried = [pairs[i] for i in work.plan.carry]
    stats = carry_over(work, out_dir, carried, mapping_hash=str(job.mapping_hash))
    relabel = [pairs[i] for i in work.plan.relabel]
    write_pairs(out_dir, relabel, name=RELABEL_FILE)
    names = ", ".join(c.name for c in work.changes) or "none"
    log(
        session,
        job.id,
        f"update of job {work.old_job_id}: labels whose allowed set changed: {names}; re-labelling "
        f"{len(relabel)} of {len(pairs)} images ({len(work.plan.changed)} contain a changed label, "
        f"{len(work.plan.redo)} had no usable earlier output); {stats.images} carried over "
        f"({stats.linked} files hard-linked, {stats.copied} copied)",
    )
    if stats.copied:
        log(
            session,
            job.id,
            f"{stats.copied} file(s) copied instead of hard-linked: {stats.copy_reason}",
            level="warning",
        )
    return relabel


def carry_over(work: UpdateWork, out_dir: Path, carried: list[Pair], *, mapping_hash: str) -> CarryStats:
    """Link the carried images' files; write their manifest records and folded summary
    (``mapping_hash``: the update's, which the run as a whole pins)."""
    stats = CarryStats()
    old_summary = _old_summary(work.old_output_dir)
    fallback = image_provenance(old_summary, work.old_job_id)
    lines = []
    totals: dict[str, Any] = {k: 0 for k in _STAT_KEYS} | {"histogram": {}, "tta_view_runs": {}}
    for pair in carried:
        record = dict(work.records[pair.image])
        for rel in record.get("files", []):
            _carry_file(work.old_output_dir / rel, out_dir / rel, stats)
        record["provenance"] = dict(record.get("provenance") or fallback) | {
            "relabelled": False,
            "carried_from_job_id": work.old_job_id,
        }
        lines.append(json.dumps(record, sort_keys=True) + "\n")
        _fold(totals, record)
        stats.images += 1
    write_atomic(out_dir / f"manifest.{CARRIED_TAG}.jsonl", "".join(lines).encode("utf-8"))
    summary = _carried_summary(old_summary, totals, len(carried), work.old_job_id)
    summary["mapping_hash"] = mapping_hash
    write_atomic(out_dir / f"summary.{CARRIED_TAG}.json", json.dumps(summary, sort_keys=True).encode())
    return stats


def _carry_file(src: Path, dst: Path, stats: CarryStats) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)  # a re-plan redoes everything
    try:
        os.link(src, dst)
        stats.linked += 1
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        shutil.copy2(src, dst)
        stats.copied += 1
        stats.copy_reason = stats.copy_reason or f"{os.strerror(exc.errno or 0)} ({src} -> {dst})"


def _fold(totals: dict[str, Any], record: dict[str, Any]) -> None:
    """Add one record's statistics, as ``PseudoLabelSummary.fold`` does for a labelled image."""
    for key in _STAT_KEYS:
        totals[key] += int(record.get(key, 0))
    totals["histogram"] = merge_sparse_histograms([totals["histogram"], record.get("histogram", {})])
    add_view_runs(totals["tta_view_runs"], record.get("tta", []))


def _old_summary(old_dir: Path) -> dict[str, Any]:
    path = old_dir / "summary.json"
    return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else {}


def _carried_summary(
    old: dict[str, Any], totals: dict[str, Any], count: int, old_job_id: int
) -> dict[str, Any]:
    """A shard-like summary of the carried images: the earlier run's provenance, their statistics."""
    return (
        {k: old[k] for k in _RUN_KEYS if k in old}
        | totals
        | {
            "shard": CARRIED_TAG,
            "total": count,
            "written": 0,
            "skipped_existing": 0,
            "failed": 0,
            "errors": [],
            "carried_over": count,
            "carried_from_job_id": old_job_id,
        }
    )


def update_fields(out_dir: Path, params: dict[str, Any]) -> dict[str, Any]:
    """What an update run adds to its summary: the run it updated, images carried over, re-labelled."""
    path = out_dir / f"summary.{CARRIED_TAG}.json"
    carried = int(json.loads(path.read_text(encoding="utf-8")).get("total", 0)) if path.is_file() else 0
    relabel = (
        (out_dir / RELABEL_FILE).read_text(encoding="utf-8").splitlines()
        if (out_dir / RELABEL_FILE).is_file()
        else []
    )
    return {
        "updated_from_job_id": int(params["update_from_job_id"]),
        "images_carried_over": carried,
        "images_relabelled": len(relabel),
    }
