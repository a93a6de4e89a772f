"""The ``convert_labels`` job (task adapter layer): a dataset's native labels to label-id PNGs, sharded.

A conversion job runs through the same plan -> shards -> finalize tasks as pseudo-labelling
(``worker.tasks``; the bodies here are chosen by the job's kind): shard rows and their messages in
the planner's commit (:func:`worker.sharding.add_shards`), one leased task per shard, the join
counted in the database, lease recovery by the sweep.

* :func:`plan_conversion` fixes the job's file list once
  (:func:`app.services.label_conversions.conversion_items`) in
  ``<converted>/.conversion/job-<id>/items.jsonl`` (hidden: the dataset's listing skips it) and plans
  slices of at most ``shard_size`` files.
* :func:`run_conversion_shard` converts its slice with :mod:`worker.label_conversion`, appending
  one provenance record per file to its own ``records.<shard>.jsonl`` next to the plan; a file
  whose PNG exists and is recorded (here or in the folder's ``conversion-records.jsonl``) is
  skipped, so a re-run, a retry or a shard re-sent after a killed worker resumes.
* :func:`finalize_conversion` merges the shards' records into ``conversion-records.jsonl``, writes
  ``conversion.json`` (the provenance), rescans the dataset so that its pair count and scan report
  describe the converted labels (nuImages: the splits its release folders give join the dataset's
  split names first), and ends the parent with the summed report.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.models_registry import Dataset, Job
from app.db.session import unit_of_work
from app.domain.errors import DomainError
from app.domain.native_labels import ConversionItem
from app.domain.nuimages import ordered_splits
from app.services import dataset_presets as preset_service
from app.services import datasets as dataset_service
from app.services import label_conversions as conversion_service
from app.services import taxonomies as taxonomy_service
from app.services.jobs import log
from worker import context
from worker.label_conversion import (
    MAX_PROBLEMS,
    ConversionConfig,
    ConversionReport,
    convert_items,
    merge_records,
    write_provenance,
)
from worker.ml.io import write_atomic
from worker.progress import JobProgressRecorder, LeaseLost
from worker.sharding import add_shards, finish_parent, shard_bounds, shard_tag

KIND = "convert_labels"
DEFAULT_SHARD_SIZE = 200  # app.schemas.jobs.ConvertLabelsParams.shard_size
PLAN_DIR = ".conversion"
ITEMS_FILE = "items.jsonl"


def plan_dir(out_dir: Path, job_id: int) -> Path:
    """The job's plan and shard records, inside the converted folder (hidden from its listing)."""
    return out_dir / PLAN_DIR / f"job-{job_id}"


def _config(session: Session, row: Dataset) -> ConversionConfig:
    return ConversionConfig(
        converter=str(row.label_converter),
        root=Path(row.root),
        out_dir=Path(str(row.converted_labels_dir)),
        taxonomy=taxonomy_service.load_taxonomy(session, row.taxonomy_id, generated=False),
        encoding=row.label_encoding,
        dataset=row.name,
    )


def _read_items(folder: Path) -> list[ConversionItem]:
    rows = (folder / ITEMS_FILE).read_text(encoding="utf-8").splitlines()
    return [ConversionItem(r["native"], r["output"], r.get("segments_json")) for r in map(json.loads, rows)]


def plan_conversion(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    params = json.loads(job.params_json)
    size = int(params.get("shard_size", DEFAULT_SHARD_SIZE))
    with unit_of_work(context.session_factory()) as s:
        row = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        items = conversion_service.conversion_items(row)
        folder = plan_dir(Path(str(row.converted_labels_dir)), job.id)
        folder.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps({"native": i.native, "output": i.output, "segments_json": i.segments_json}) + "\n"
            for i in items
        )
        write_atomic(folder / ITEMS_FILE, lines.encode("utf-8"))
        bounds = shard_bounds(len(items), size)
        add_shards(s, job, bounds)  # the shard rows and their task messages, in this commit
        if not repo.finish_job(
            s,
            job.id,
            recorder.attempt,
            shard_count=len(bounds),
            progress_total=len(items),
            message=f"{len(items)} label files in {len(bounds)} shard(s)",
        ):
            raise LeaseLost(f"job {job.id}: the planning lease was lost")
        log(
            s,
            job.id,
            f"converting {len(items)} {row.label_converter} label files into {row.converted_labels_dir} "
            f"in {len(bounds)} shard(s) of <= {size}",
        )
    if bounds:
        return {"_planned": True}
    with unit_of_work(context.session_factory()) as s:  # nothing to convert: finish here
        return _complete(s, job, [])


def run_conversion_shard(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    with unit_of_work(context.session_factory()) as s:
        if repo.get_job(s, int(job.parent_id or 0)) is None:
            raise DomainError(f"shard {job.id} lost its parent job")
        config = _config(s, dataset_service.get_dataset(s, int(job.dataset_id or 0)))
    bounds = json.loads(job.params_json)
    folder = plan_dir(config.out_dir, int(job.parent_id or 0))
    items = _read_items(folder)[int(bounds["start"]) : int(bounds["end"])]
    records = folder / f"records.{shard_tag(int(job.shard_index or 0))}.jsonl"
    report = convert_items(
        config, items, on_progress=recorder, should_stop=recorder.should_stop, records_file=records
    )
    return {
        "_stopped": report.converted + report.skipped + report.failed < len(items),
        "files": len(items),
        "converted": report.converted,
        "skipped": report.skipped,
        "failed": report.failed,
        "problems": report.problems,
        "unknown_labels": dict(report.unknown_labels),
        "unlisted_segments": report.unlisted_segments,
        "unknown_category_pixels": report.unknown_category_pixels,
    }


def finalize_conversion(job_id: int) -> bool:
    """Merge a conversion's shards and end the job (idempotent); False when not a conversion."""
    with unit_of_work(context.session_factory()) as s:
        job = repo.get_job(s, job_id)
        if job is None or job.kind != KIND:
            return False
        if job.status in ("succeeded", "failed", "cancelled"):
            return True
        shards = repo.list_shards(s, job_id)
        result = _complete(s, job, shards)
        message = (
            f"{result['converted']} converted, {result['skipped']} already done, {result['failed']} failed"
        )
        finish_parent(s, job, shards, result=result, message=message)
    return True


def _shard_report(shards: list[Job]) -> ConversionReport:
    """The shards' reports summed (a shard that never ran adds nothing)."""
    report = ConversionReport()
    for sh in shards:
        part = json.loads(sh.result_json) if sh.result_json else {}
        report.converted += int(part.get("converted", 0))
        report.skipped += int(part.get("skipped", 0))
        report.failed += int(part.get("failed", 0))
        report.problems += part.get("problems", [])[: MAX_PROBLEMS - len(report.problems)]
        report.unknown_labels.update(Counter(part.get("unknown_labels", {})))
        report.unlisted_segments += int(part.get("unlisted_segments", 0))
        report.unknown_category_pixels += int(part.get("unknown_category_pixels", 0))
    return report


def _complete(s: Session, job: Job, shards: list[Job]) -> dict[str, Any]:
    """Merge the records, write the provenance, rescan the dataset; the job's result."""
    row = dataset_service.get_dataset(s, int(job.dataset_id or 0))
    config = _config(s, row)
    folder = plan_dir(config.out_dir, job.id)
    items = _read_items(folder)
    _remove_temp_files(config.out_dir, items)
    tags = [shard_tag(int(sh.shard_index or 0)) for sh in shards]
    records = merge_records(config.out_dir, items, [folder / f"records.{t}.jsonl" for t in tags])
    report = _shard_report(shards)
    provenance = write_provenance(config, items, records, report)
    _record_splits(row)
    scan = dataset_service.scan_dataset(s, row.id)
    if report.unknown_labels:
        names = ", ".join(sorted(report.unknown_labels)[:20])
        log(s, job.id, f"label names not in the taxonomy (left as background): {names}", level="warning")
    if report.failed:
        log(s, job.id, f"{report.failed} label file(s) could not be converted", level="warning")
    return {
        "files": len(items),
        "shards": len(shards),
        "converted": report.converted,
        "skipped": report.skipped,
        "failed": report.failed,
        "problems": report.problems,
        "unknown_labels": dict(report.unknown_labels.most_common(100)),
        "unlisted_segments": report.unlisted_segments,
        "unknown_category_pixels": report.unknown_category_pixels,
        "pairs": scan.pairs,
        "provenance": provenance,
    }


def _remove_temp_files(out_dir: Path, items: list[ConversionItem]) -> None:
    """Delete the ``.<name>.<pid>.tmp`` files that writers killed mid-write left next to the outputs."""
    for folder in {(out_dir / i.output).parent for i in items}:
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)


def _record_splits(row: Dataset) -> None:
    """nuImages: the splits the release folders gave the converted images join the dataset's split
    names (so a job can select one), the existing names first."""
    found = preset_service.converted_splits(row)
    if found is None:
        return
    current = json.loads(row.splits_json or "[]")
    added = [s for s in ordered_splits(found.splits.values()) if s not in current]
    if added:
        row.splits_json = json.dumps(current + added)
