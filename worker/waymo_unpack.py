"""Unpack Waymo Open Dataset v2 camera segmentation into image files and label-id PNGs (worker layer).

The release keeps images and labels inside Parquet files (:mod:`app.domain.waymo`), which no pairing
rule can read. :func:`unpack` reads, per split and run segment, the labelled rows of
``<split>/camera_segmentation/<context>.parquet`` and the matching rows of
``<split>/camera_image/<context>.parquet`` (in batches: a segment's images are about a gigabyte), and
writes for each labelled camera image

* ``<out>/<split>/images/<context>_<timestamp>_<camera>.jpg``: the stored JPEG bytes, unchanged;
* ``<out>/<split>/labels/<same>.png``: uint8 class ids 0..28 (panoptic value // divisor).

plus ``<out>/labels.csv`` (the 29 classes, :func:`app.domain.waymo.labels_csv_text`) and
``<out>/unpack.json`` (provenance: the source files' sha256, counts, problems). The ``waymo`` preset's
``unpacked`` variant registers ``<out>``. Outputs are written under a temporary name and renamed; a
pair that exists is kept, so a re-run resumes. pyarrow is imported inside :func:`unpack`.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.domain.errors import InvalidInput
from app.domain.hashing import sha256_of_file
from app.domain.waymo import (
    DIVISOR,
    IMAGE,
    IMAGE_DIR,
    KEY_CAMERA,
    KEY_CONTEXT,
    KEY_TIMESTAMP,
    KEYS,
    PANOPTIC,
    SEGMENTATION_DIR,
    SPLITS,
    frame_stem,
    labels_csv_text,
    semantic_classes,
)

UNPACKER_VERSION = 1
BATCH_ROWS = 16
MAX_PROBLEMS = 50

Key = tuple[str, int, int]


@dataclass
class UnpackReport:
    written: int = 0
    kept: int = 0  # pairs that existed already (a resumed run)
    failed: int = 0
    segments: int = 0
    splits: dict[str, int] = field(default_factory=dict)  # pairs per split (written + kept)
    problems: list[dict[str, str]] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # relative path -> sha256

    def problem(self, where: str, message: str) -> None:
        self.failed += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"file": where, "problem": message})


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInput(
            "reading Waymo Parquet files needs pyarrow (pip install 'unilabel[ml]')", field="root"
        ) from None
    return pq


def _rows(pq: Any, path: Path, columns: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of a Parquet file as dicts, read ``BATCH_ROWS`` at a time."""
    reader = pq.ParquetFile(path)
    missing = [c for c in columns if c not in reader.schema_arrow.names]
    if missing:
        raise InvalidInput(
            f"{path.name}: no column {missing[0]!r} (not a Waymo v2 component file)", field="root"
        )
    for batch in reader.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


def _key(row: dict[str, Any]) -> Key:
    return str(row[KEY_CONTEXT]), int(row[KEY_TIMESTAMP]), int(row[KEY_CAMERA])


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _label_png(panoptic_png: bytes, divisor: int, image_size: tuple[int, int]) -> bytes:
    with Image.open(io.BytesIO(panoptic_png)) as im:
        if im.size != image_size:
            raise InvalidInput(f"label is {im.size[0]}x{im.size[1]}, image {image_size[0]}x{image_size[1]}")
        panoptic = np.asarray(im)
    out = io.BytesIO()
    Image.fromarray(semantic_classes(panoptic, divisor), mode="L").save(out, format="PNG")
    return out.getvalue()


def _image_size(jpeg: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(jpeg)) as im:
        return im.size


def _segment(pq: Any, split_dir: Path, seg_file: Path, out: Path, root: Path, report: UnpackReport) -> int:
    """Unpack one run segment's labelled camera images; returns how many pairs it has now."""
    rel = seg_file.relative_to(root).as_posix()
    labels: dict[Key, tuple[bytes, int]] = {}
    for row in _rows(pq, seg_file, [*KEYS, PANOPTIC, DIVISOR]):
        if row[PANOPTIC]:
            labels[_key(row)] = (bytes(row[PANOPTIC]), int(row[DIVISOR] or 0))
    image_file = split_dir / IMAGE_DIR / seg_file.name
    if not image_file.is_file():
        report.problem(rel, f"no {IMAGE_DIR}/{seg_file.name} beside it: its images are missing")
        return 0
    report.sources[rel] = sha256_of_file(seg_file)
    report.sources[image_file.relative_to(root).as_posix()] = sha256_of_file(image_file)
    images_dir, labels_dir = out / "images", out / "labels"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    done, found = 0, set()
    for row in _rows(pq, image_file, [*KEYS, IMAGE]):
        key = _key(row)
        if key not in labels or key in found:
            continue
        found.add(key)
        try:
            stem = frame_stem(*key)
        except InvalidInput as exc:
            report.problem(rel, exc.message)
            continue
        image_path, label_path = images_dir / f"{stem}.jpg", labels_dir / f"{stem}.png"
        if image_path.is_file() and label_path.is_file():
            report.kept += 1
            done += 1
            continue
        jpeg = bytes(row[IMAGE] or b"")
        panoptic, divisor = labels[key]
        try:
            label = _label_png(panoptic, divisor, _image_size(jpeg))
        except (InvalidInput, OSError, ValueError) as exc:
            message = exc.message if isinstance(exc, InvalidInput) else f"unreadable ({type(exc).__name__})"
            report.problem(f"{rel} {stem}", message)
            continue
        _write_atomic(label_path, label)
        _write_atomic(image_path, jpeg)
        report.written += 1
        done += 1
    for key in sorted(set(labels) - found):
        report.problem(
            f"{rel} {key[1]} camera {key[2]}", f"labelled, but no row in {IMAGE_DIR}/{seg_file.name}"
        )
    return done


def unpack(root: Path, out: Path, *, splits: Iterable[str] | None = None) -> UnpackReport:
    """Unpack the labelled camera images of a v2 release at ``root`` into ``out`` (see the module).

    Raises:
        InvalidInput: no ``<split>/camera_segmentation/*.parquet`` under ``root``, ``out`` inside
            ``root``, pyarrow missing, or a file that is not a v2 component file.
    """
    root, out = root.resolve(), out.resolve()
    if out == root or root in out.parents:
        raise InvalidInput("the output folder must not be inside the Waymo root", field="out")
    wanted = tuple(splits) if splits else SPLITS
    found = [(s, sorted((root / s / SEGMENTATION_DIR).glob("*.parquet"))) for s in wanted]
    if not any(files for _, files in found):
        raise InvalidInput(
            f"no <split>/{SEGMENTATION_DIR}/*.parquet under {root} (splits looked at: {', '.join(wanted)})",
            field="root",
        )
    pq = _pyarrow_parquet()
    report = UnpackReport()
    out.mkdir(parents=True, exist_ok=True)
    for split, files in found:
        for seg_file in files:
            count = _segment(pq, root / split, seg_file, out / split, root, report)
            report.splits[split] = report.splits.get(split, 0) + count
            report.segments += 1
    _write_atomic(out / "labels.csv", labels_csv_text().encode())
    provenance = {
        "unpacker": "waymo-v2-camera-segmentation",
        "version": UNPACKER_VERSION,
        "root": str(root),
        "written": report.written,
        "kept": report.kept,
        "failed": report.failed,
        "segments": report.segments,
        "pairs_per_split": report.splits,
        "problems": report.problems,
        "sources_sha256": report.sources,
    }
    _write_atomic(out / "unpack.json", json.dumps(provenance, indent=2).encode())
    return report
