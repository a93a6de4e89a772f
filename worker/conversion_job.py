"""The ``convert_labels`` job body (task adapter layer): a dataset's native labels to label-id PNGs.

Reads the dataset and its taxonomy, converts :func:`app.services.label_conversions.conversion_items`
with :mod:`worker.label_conversion` into the dataset's ``converted_labels_dir`` (files already
converted are skipped, so a re-run or a retry resumes), then rescans the dataset so that its pair
count and scan report describe the converted labels (nuImages: the splits its release folders give
join the dataset's split names first). The result is the conversion report plus the
provenance written to ``conversion.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.db.models_registry import Dataset, Job
from app.db.session import unit_of_work
from app.domain.nuimages import ordered_splits
from app.services import dataset_presets as preset_service
from app.services import datasets as dataset_service
from app.services import label_conversions as conversion_service
from app.services import taxonomies as taxonomy_service
from app.services.jobs import log
from worker import context
from worker.label_conversion import PROVENANCE, ConversionConfig, convert_items
from worker.progress import JobProgressRecorder


def run_conversion(job: Job, recorder: JobProgressRecorder) -> dict[str, Any]:
    with unit_of_work(context.session_factory()) as s:
        row = dataset_service.get_dataset(s, int(job.dataset_id or 0))
        items = conversion_service.conversion_items(row)
        config = ConversionConfig(
            converter=str(row.label_converter),
            root=Path(row.root),
            out_dir=Path(str(row.converted_labels_dir)),
            taxonomy=taxonomy_service.load_taxonomy(s, row.taxonomy_id, generated=False),
            encoding=row.label_encoding,
            dataset=row.name,
        )
        log(s, job.id, f"converting {len(items)} {config.converter} label files into {config.out_dir}")
    report = convert_items(config, items, on_progress=recorder, should_stop=recorder.should_stop)
    with unit_of_work(context.session_factory()) as s:
        _record_splits(dataset_service.get_dataset(s, int(job.dataset_id or 0)))
        scan = dataset_service.scan_dataset(s, int(job.dataset_id or 0))
        if report.unknown_labels:
            names = ", ".join(sorted(report.unknown_labels)[:20])
            log(s, job.id, f"label names not in the taxonomy (left as background): {names}", level="warning")
        if report.failed:
            log(s, job.id, f"{report.failed} label file(s) could not be converted", level="warning")
    stopped = report.converted + report.skipped + report.failed < len(items)
    return {
        "_stopped": stopped,
        "files": len(items),
        "converted": report.converted,
        "skipped": report.skipped,
        "failed": report.failed,
        "problems": report.problems,
        "unknown_labels": dict(report.unknown_labels.most_common(100)),
        "unlisted_segments": report.unlisted_segments,
        "unknown_category_pixels": report.unknown_category_pixels,
        "pairs": scan.pairs,
        "provenance": json.loads((config.out_dir / PROVENANCE).read_text(encoding="utf-8")),
    }


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
