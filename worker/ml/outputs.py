"""Output side of pseudo-labelling: background PNG writers, JSON-lines manifest, summaries (worker.ml)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from app.domain.label_codec import encode_confidence, encode_pseudo_label
from worker.ml.io import png_bytes, write_atomic

# Error types of per-image failures, from the messages of ``worker.ml.io.DataFileError`` (first match).
_ERROR_TYPES = (
    ("unreadable image", "unreadable image"),
    ("unreadable label", "unreadable label"),
    ("label size", "size mismatch"),
    ("label image mode", "label format"),
)


def error_type(message: str) -> str:
    """A short, stable category for a per-image error message (``"invalid data"`` when unknown)."""
    return next((kind for needle, kind in _ERROR_TYPES if needle in message), "invalid data")


def failure_entry(image: str, label: str | None, message: str, shard: int | None = None) -> dict[str, Any]:
    """One failed image as listed in summaries: file names, shard index, error type and message."""
    return {
        "image": image,
        "label": label,
        "shard": shard,
        "error_type": error_type(message),
        "error": message,
    }


def shard_index(tag: str | None) -> int | None:
    """The shard index of a tag such as ``"00002"`` (None for an unsharded run)."""
    return int(tag) if tag is not None and tag.isdigit() else None


def output_relpath(image: str, label: str | None) -> str:
    """The output path mirrors the label's relative path (the image's without ground truth), as PNG."""
    return PurePosixPath(label if label is not None else image).with_suffix(".png").as_posix()


class Manifest:
    """Append-only JSON-lines file, one record per image; safe to call from writer threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)


def read_manifests(paths: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """Last "ok" record per output path from earlier runs (a torn last line is ignored)."""
    records: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("status") == "ok" and "output" in rec:
                records[rec["output"]] = rec
    return records


class OutputWriter:
    """Encodes and writes PNGs (atomically) plus the manifest line on a thread pool.

    At most ``2 * threads`` images are in flight so memory stays bounded while the model runs.
    """

    def __init__(self, manifest: Manifest, threads: int = 2) -> None:
        self.manifest = manifest
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="unilabel-writer")
        self._sem = threading.BoundedSemaphore(2 * max(1, threads))
        self._futures: list[Future[None]] = []
        self.writes = 0

    def submit(self, job: Callable[[], dict[str, Any]]) -> None:
        self._sem.acquire()
        future = self._pool.submit(self._run, job)
        self._futures.append(future)

    def _run(self, job: Callable[[], dict[str, Any]]) -> None:
        try:
            record = job()
            self.manifest.append(record)
        finally:
            self._sem.release()

    def close(self) -> None:
        """Wait for all writes; re-raise the first writer error."""
        self._pool.shutdown(wait=True)
        for f in self._futures:
            f.result()


def write_outputs(
    out_dir: Path,
    rel: str,
    labels: np.ndarray,
    num_classes: int,
    confidence: np.ndarray | None,
    teacher: np.ndarray | None = None,
) -> list[str]:
    """Write ``labels/<rel>`` (and ``confidence/<rel>``, ``teacher/<rel>``) atomically.

    Args:
        labels: ``(H, W)`` int class ids / void.
        confidence: ``(H, W)`` float in [0, 1] or None.
        teacher: ``(H, W)`` int unconstrained teacher argmax over the N real classes, or None.

    Returns:
        The written paths relative to ``out_dir``.
    """
    written = []
    if teacher is not None:
        write_atomic(out_dir / "teacher" / rel, png_bytes(encode_pseudo_label(teacher, num_classes)))
        written.append(f"teacher/{rel}")
    if confidence is not None:
        write_atomic(out_dir / "confidence" / rel, png_bytes(encode_confidence(confidence)))
        written.append(f"confidence/{rel}")
    # The label file goes last: its existence marks the image as done for resume.
    write_atomic(out_dir / "labels" / rel, png_bytes(encode_pseudo_label(labels, num_classes)))
    written.append(f"labels/{rel}")
    return written


def sparse_histogram(hist: np.ndarray, num_classes: int) -> dict[str, dict[str, int]]:
    """``(L, N+1)`` counts -> ``{source row: {target id | "void": count}}`` without zeros."""
    rows, cols = np.nonzero(hist)
    out: dict[str, dict[str, int]] = {}
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        out.setdefault(str(r), {})["void" if c == num_classes else str(c)] = int(hist[r, c])
    return out


def add_view_runs(counts: dict[str, dict[str, int]], runs: Iterable[dict[str, Any]]) -> None:
    """Count one image's TTA views by how they ran, in place.

    ``runs`` is a manifest record's ``tta`` list (``{"view", "mode", "reason"}`` per view);
    ``counts`` becomes ``{"orig@2": {"whole": 3, "windows (fell back: OOM)": 1}, ...}`` (images).
    """
    for run in runs:
        key = run["mode"] if not run.get("reason") else f"{run['mode']} ({run['reason']})"
        dst = counts.setdefault(str(run["view"]), {})
        dst[key] = dst.get(key, 0) + 1


def merge_sparse_histograms(hists: Iterable[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    total: dict[str, dict[str, int]] = {}
    for h in hists:
        for row, targets in h.items():
            dst = total.setdefault(row, {})
            for t, n in targets.items():
                dst[t] = dst.get(t, 0) + int(n)
    return total


def named_histogram(
    hist: dict[str, dict[str, int]],
    source_names: dict[int, str],
    target_names: tuple[str, ...],
    unknown_row: int | None,
) -> dict[str, dict[str, int]]:
    """Sparse histogram with rows as source label names and columns as target class names."""
    out: dict[str, dict[str, int]] = {}
    for row, targets in sorted(hist.items(), key=lambda kv: int(kv[0])):
        r = int(row)
        name = "<unknown value>" if r == unknown_row else source_names.get(r, f"<value {r}>")
        out[name] = {
            ("void" if t == "void" else target_names[int(t)]): n
            for t, n in sorted(targets.items(), key=lambda kv: (kv[0] == "void", kv[0]))
        }
    return out


def merge_summaries(summaries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Combine shard summaries (``summary.<shard>.json`` contents) into one run summary."""
    summaries = list(summaries)
    if not summaries:
        return {}
    merged = dict(summaries[0])
    for key in (
        "total",
        "written",
        "skipped_existing",
        "failed",
        "pixels",
        "void_pixels",
        "non_void_pixels",
        "corrected_pixels",
    ):
        merged[key] = sum(int(s.get(key, 0)) for s in summaries)
    merged["histogram"] = merge_sparse_histograms(s.get("histogram", {}) for s in summaries)
    merged["tta_view_runs"] = merge_sparse_histograms(s.get("tta_view_runs", {}) for s in summaries)
    merged["stopped"] = any(s.get("stopped") for s in summaries)
    merged["shards"] = [s.get("shard") for s in summaries]
    # Every shard's failures, in shard order (each entry names its shard).
    merged["errors"] = [
        {"shard": shard_index(s.get("shard"))} | e for s in summaries for e in s.get("errors", [])
    ]
    merged["void_fraction"] = merged["void_pixels"] / merged["pixels"] if merged["pixels"] else 0.0
    merged["correction_rate"] = (
        merged["corrected_pixels"] / merged["non_void_pixels"] if merged["non_void_pixels"] else 0.0
    )
    return merged
