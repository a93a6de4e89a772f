"""What a pseudo-label job reports about its images (task adapter layer): failed and skipped ones.

* :func:`skipped_images` — images the dataset's pairing rule left out when the job was planned (a
  label file missing, or gone since the dataset was scanned; a bad list-file line, ...). With priors
  a pixel without ground truth has no allowed set, so such images are skipped, never guessed; they
  are kept in ``skipped.json`` of the output folder until finalize lists them in the summary.
* :func:`complete_summary` — adds to the merged ``summary.json`` every failed image of every shard
  (from the merged manifest, with its shard index), the skipped images and their counts.
* :func:`job_result` — the job row's result: the summary without the raw histogram, its lists cut
  to the first :data:`RESULT_LISTED` entries (``summary.json`` keeps them all).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from app.domain.pairing import PairingResult, PairProblem, compile_image_pattern
from worker.ml.io import write_atomic
from worker.ml.outputs import failure_entry

LABEL_MISSING = "label missing"
SKIPPED_FILE = "skipped.json"
RESULT_LISTED = 100

# (start, end, shard index): the slice of the job's pairs each shard labels.
ShardRange = tuple[int, int, int]


def skipped_images(
    root: Path, result: PairingResult, *, image_pattern: str | None, split: str | None
) -> list[dict[str, Any]]:
    """Images of ``split`` (all splits when None) that the pairing could not pair, in problem order.

    Args:
        root: the dataset root the pairing's relative paths start from.
        result: the pairing of the dataset (its ``problems`` name the images left out).
        image_pattern: the dataset's image pattern (None for a list file), to find a problem's split.
        split: the job's split.

    Returns:
        ``[{"image", "label", "reason"}]``; ``reason`` is :data:`LABEL_MISSING` when the image exists
        and its label file does not, else the pairing's message.
    """
    paired = {p.image for p in result.pairs}
    regex = compile_image_pattern(image_pattern) if image_pattern else None
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for problem in result.problems:
        image = problem.image
        if image is None or image in paired or image in seen:
            continue  # a bad line without an image, or an image that was paired after all
        if split is not None:
            match = regex.match(image) if regex is not None else None
            if match is None or match.groupdict().get("split") != split:
                continue
        seen.add(image)
        out.append({"image": image, "label": problem.label, "reason": _reason(root, problem)})
    return out


def _reason(root: Path, problem: PairProblem) -> str:
    image, label = problem.image, problem.label
    if image is None or label is None or not _inside(image) or not _inside(label):
        return problem.message
    if (root / image).is_file() and not (root / label).is_file():
        return LABEL_MISSING
    return problem.message


def _inside(path: str) -> bool:
    """A relative path that stays under the root (the pairing already refused any other)."""
    p = PurePosixPath(path)
    return not (p.is_absolute() or ".." in p.parts or path.startswith("\\") or re.match(r"^[A-Za-z]:", path))


def write_skipped(out_dir: Path, skipped: Sequence[dict[str, Any]]) -> None:
    write_atomic(out_dir / SKIPPED_FILE, json.dumps(list(skipped), indent=1).encode("utf-8"))


def read_skipped(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / SKIPPED_FILE
    return list(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else []


def failed_images(out_dir: Path, ranges: Sequence[ShardRange]) -> list[dict[str, Any]]:
    """Every ``"error"`` record of the merged ``manifest.jsonl`` (dataset order) with its shard index."""
    path = out_dir / "manifest.jsonl"
    if not path.is_file():
        return []
    out = []
    for position, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        record = json.loads(line)
        if record.get("status") != "error":
            continue
        shard = next((index for start, end, index in ranges if start <= position < end), None)
        out.append(failure_entry(record["image"], record.get("label"), str(record.get("error")), shard))
    return out


def complete_summary(
    out_dir: Path, summary: dict[str, Any], *, ranges: Sequence[ShardRange], skipped: list[dict[str, Any]]
) -> dict[str, Any]:
    """Add the failed and skipped images (and counts) to ``summary``; (re)write ``summary.json``."""
    summary = summary | {
        "errors": failed_images(out_dir, ranges),
        "skipped": skipped,
        "images_skipped": len(skipped),
        "images_skipped_missing_label": sum(1 for s in skipped if s["reason"] == LABEL_MISSING),
    }
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2, sort_keys=True).encode("utf-8"))
    return summary


def job_result(summary: dict[str, Any]) -> dict[str, Any]:
    """The job row's result: no raw histogram; ``errors``/``skipped`` cut to the first entries."""
    result = {k: v for k, v in summary.items() if k != "histogram"}
    for key in ("errors", "skipped"):
        result[key] = list(summary.get(key, []))[:RESULT_LISTED]
    return result


def job_message(summary: dict[str, Any]) -> str:
    """One line for the job row: labelled / total, and how many failed or were skipped."""
    parts = [f"{summary.get('images_ok', 0)}/{summary.get('images', 0)} images labelled"]
    if summary.get("images_failed"):
        parts.append(f"{summary['images_failed']} failed")
    if summary.get("images_skipped"):
        missing = summary.get("images_skipped_missing_label", 0)
        parts.append(
            f"{summary['images_skipped']} skipped" + (f" ({missing} label missing)" if missing else "")
        )
    return ", ".join(parts)


def image_provenance(summary: dict[str, Any], job_id: int) -> dict[str, Any]:
    """The per-image provenance of an image labelled by run ``job_id`` (its shard's ``summary``):
    teacher, mapping hash, TTA views, code version, and that it was labelled (not carried over)."""
    model = summary.get("model") or {}
    return {
        "teacher": {k: model.get(k) for k in ("source", "spec", "checksum")},
        "mapping_hash": summary.get("mapping_hash"),
        "tta_views": list(summary.get("tta_views", [])),
        "code_version": (summary.get("versions") or {}).get("unilabel"),
        "relabelled": True,
        "labelled_in_job_id": job_id,
        "carried_from_job_id": None,
    }
