"""Convert a dataset's native labels once into label-id PNGs (worker layer; no database).

:func:`rasterise_polygons` draws a parsed polygon file the way cityscapesScripts' ``json2labelImg``
does (a new image filled with the background, then ``ImageDraw.polygon(points, fill=value)`` per
object in file order). :func:`convert_items` walks the planned files: an output that exists is
finished (outputs are written to a temporary name and renamed), so a re-run resumes; every
converted file appends a record (source sha256, unknown names) to ``conversion-records.jsonl``, and
``conversion.json`` holds the provenance: converter, version, counts and a digest of the sources.
A shard of a conversion job (:mod:`worker.conversion_job`) appends its records to its own file
instead; the job's finalize step folds them in (:func:`merge_records`) and writes the provenance.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

import numpy as np
from PIL import Image, ImageDraw

from app.domain.errors import InvalidInput
from app.domain.jobs import Progress, ProgressCallback
from app.domain.native_labels import (
    CONVERTER_VERSION,
    NUIMAGES,
    PANOPTIC,
    POLYGONS,
    RECORDS,
    ConversionItem,
    PanopticIndex,
    PolygonLabels,
    background_value,
    category_values,
    panoptic_values,
    parse_panoptic_json,
    parse_polygons,
)
from app.domain.taxonomy import Taxonomy
from worker.nuimages_conversion import NuImagesTables, tables_sha256

PROVENANCE = "conversion.json"
MAX_PROBLEMS = 50
MAX_JSON_BYTES = 2_000_000_000


@dataclass(frozen=True, slots=True)
class ConversionConfig:
    converter: str
    root: Path
    out_dir: Path
    taxonomy: Taxonomy
    encoding: str  # ids8 | ids16
    dataset: str = ""


@dataclass
class ConversionReport:
    converted: int = 0
    skipped: int = 0
    failed: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)
    unknown_labels: Counter[str] = field(default_factory=Counter)
    unlisted_segments: int = 0
    unknown_category_pixels: int = 0


def rasterise_polygons(labels: PolygonLabels) -> np.ndarray:
    """``(H, W)`` values: json2labelImg's drawing (mode ``L``; mode ``I`` when a value exceeds 255)."""
    wide = max([labels.background, *(o.value for o in labels.objects)]) > 255
    img = Image.new("I" if wide else "L", (labels.width, labels.height), labels.background)
    draw = ImageDraw.Draw(img)
    for obj in labels.objects:
        if len(obj.points) >= 2:
            draw.polygon(list(obj.points), fill=obj.value)
    return np.asarray(img)


def write_png_atomic(path: Path, values: np.ndarray, encoding: str) -> None:
    """Write ``values`` as an 8- or 16-bit PNG: a temporary file, then a rename (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint16 if encoding == "ids16" else np.uint8
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    Image.fromarray(values.astype(dtype)).save(tmp, format="PNG")
    os.replace(tmp, path)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _PanopticJsons:
    """Each split's panoptic JSON (or the nuImages tables), read once; a missing or malformed one
    fails its files clearly."""

    def __init__(self, root: Path, taxonomy: Taxonomy) -> None:
        self.root, self.taxonomy = root, taxonomy
        self._nuimages: NuImagesTables | None = None
        self.cache: dict[str, tuple[PanopticIndex, dict[int, int], tuple[str, ...]] | InvalidInput] = {}

    def get(self, rel: str) -> tuple[PanopticIndex, dict[int, int], tuple[str, ...]]:
        if rel not in self.cache:
            self.cache[rel] = self._load(rel)
        got = self.cache[rel]
        if isinstance(got, InvalidInput):
            raise got
        return got

    @property
    def nuimages(self) -> NuImagesTables:
        """The root's nuImages tables (read when an image first needs them)."""
        if self._nuimages is None:
            self._nuimages = NuImagesTables(self.root, self.taxonomy)
        return self._nuimages

    def _load(self, rel: str) -> tuple[PanopticIndex, dict[int, int], tuple[str, ...]] | InvalidInput:
        path = self.root / rel
        if not path.is_file():
            return InvalidInput(f"the panoptic JSON {rel!r} is missing", field="label")
        if path.stat().st_size > MAX_JSON_BYTES:
            return InvalidInput(f"the panoptic JSON {rel!r} is larger than 2 GB", field="label")
        try:
            index = parse_panoptic_json(path.read_text(encoding="utf-8", errors="replace"))
        except InvalidInput as exc:
            return InvalidInput(f"{rel}: {exc.message}", field="label")
        values, unknown = category_values(index, self.taxonomy)
        return index, values, unknown


def _convert_nuimages(
    config: ConversionConfig, item: ConversionItem, tables: NuImagesTables, report: ConversionReport
) -> dict[str, Any]:
    """One nuImages image (``item.native`` is the image); its record's sha256 is of its annotations."""
    values, fields = tables.convert(item.native, background_value(config.taxonomy))
    report.unknown_labels.update(fields["unknown"])
    write_png_atomic(config.out_dir / item.output, values, config.encoding)
    return {"native": item.native, "output": item.output, **fields}


def _convert_one(
    config: ConversionConfig, item: ConversionItem, jsons: _PanopticJsons, report: ConversionReport
) -> dict[str, Any]:
    """Convert one file and return its record; raises InvalidInput/OSError on a bad file."""
    if config.converter == NUIMAGES:
        return _convert_nuimages(config, item, jsons.nuimages, report)
    source = config.root / item.native
    if not source.is_file():
        raise InvalidInput("the label file is missing", field="label")
    data = source.read_bytes()
    record: dict[str, Any] = {"native": item.native, "output": item.output, "sha256": _sha256(data)}
    if config.converter == POLYGONS:
        labels = parse_polygons(data.decode("utf-8", errors="replace"), config.taxonomy)
        values = rasterise_polygons(labels)
        record["unknown"] = list(labels.unknown)
        report.unknown_labels.update(labels.unknown)
    elif config.converter == PANOPTIC:
        assert item.segments_json is not None
        index, cat_values, unknown_categories = jsons.get(item.segments_json)
        name = PurePosixPath(item.native).name
        if name not in index.segments:
            raise InvalidInput(f"{item.segments_json!r} has no annotation for {name!r}", field="label")
        with Image.open(source) as img:
            rgb = np.asarray(img.convert("RGB"))
        result = panoptic_values(rgb, index.segments[name], cat_values, background_value(config.taxonomy))
        values = result.values
        used = {index.categories.get(c, "") for c in index.segments[name].values()}
        record["unknown"] = sorted(n for n in unknown_categories if n in used)
        record["unlisted_segments"] = list(result.unlisted_segments)
        report.unknown_labels.update(record["unknown"])
        report.unlisted_segments += len(result.unlisted_segments)
        report.unknown_category_pixels += result.unknown_category_pixels
    else:
        raise InvalidInput(f"no converter {config.converter!r}", field="converter")
    write_png_atomic(config.out_dir / item.output, values, config.encoding)
    return record


def _read_records(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a torn last line: that file is converted again
        if isinstance(rec, dict) and isinstance(rec.get("output"), str):
            out[rec["output"]] = rec
    return out


def _open_append(path: Path) -> TextIO:
    """``path`` opened for appending, a torn last line of a killed writer ended first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = path.open("a", encoding="utf-8")
    if sink.tell():
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                sink.write("\n")
    return sink


def convert_items(
    config: ConversionConfig,
    items: Sequence[ConversionItem],
    *,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    records_file: Path | None = None,
) -> ConversionReport:
    """Convert every item whose output does not exist yet; bad files are reported, never fatal.

    Without ``records_file`` the records are appended to the folder's ``conversion-records.jsonl``
    and ``conversion.json`` is written. With it (a shard of a conversion job) they are appended
    there instead, an output recorded in either file counts as done, and the provenance is left to
    the job's finalize step (:func:`merge_records`, then :func:`write_provenance`).
    """
    config.out_dir.mkdir(parents=True, exist_ok=True)
    records_path = records_file or config.out_dir / RECORDS
    records = _read_records(config.out_dir / RECORDS) | _read_records(records_path)
    report = ConversionReport()
    jsons = _PanopticJsons(config.root, config.taxonomy)
    with _open_append(records_path) as log:
        for i, item in enumerate(items):
            if should_stop():
                break
            if (config.out_dir / item.output).is_file() and item.output in records:
                report.skipped += 1
                report.unknown_labels.update(records[item.output].get("unknown", []))
            else:
                try:
                    record = _convert_one(config, item, jsons, report)
                except (InvalidInput, OSError, ValueError) as exc:
                    report.failed += 1
                    message = exc.message if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
                    if len(report.problems) < MAX_PROBLEMS:
                        report.problems.append({"label": item.native, "message": message})
                else:
                    records[item.output] = record
                    log.write(json.dumps(record, sort_keys=True) + "\n")
                    log.flush()
                    report.converted += 1
            if on_progress is not None:
                on_progress(Progress(i + 1, len(items), f"converted {i + 1}/{len(items)} label files"))
    if records_file is None:
        write_provenance(config, items, records, report)
    return report


def merge_records(
    out_dir: Path, items: Sequence[ConversionItem], shard_files: Sequence[Path]
) -> dict[str, dict[str, Any]]:
    """Fold the shards' record files into the folder's ``conversion-records.jsonl`` (rewritten
    atomically: the planned items' records in plan order, then any older ones) and return them all."""
    records = _read_records(out_dir / RECORDS)
    for path in shard_files:
        records |= _read_records(path)
    planned = [i.output for i in items if i.output in records]
    seen = set(planned)
    rest = [o for o in records if o not in seen]
    lines = "".join(json.dumps(records[o], sort_keys=True) + "\n" for o in [*planned, *rest])
    tmp = out_dir / f".{RECORDS}.tmp"
    tmp.write_text(lines, encoding="utf-8")
    os.replace(tmp, out_dir / RECORDS)
    return records


def write_provenance(
    config: ConversionConfig,
    items: Sequence[ConversionItem],
    records: dict[str, dict[str, Any]],
    report: ConversionReport,
) -> dict[str, Any]:
    """``conversion.json``: converter, version, counts, and a digest over the sources' sha256."""
    outputs = {i.output for i in items}
    done = sorted((r["native"], r["sha256"]) for r in records.values() if r["output"] in outputs)
    digest = hashlib.sha256("\n".join(f"{n} {h}" for n, h in done).encode()).hexdigest()
    jsons = sorted({i.segments_json for i in items if i.segments_json})
    provenance = {
        "converter": config.converter,
        "converter_version": CONVERTER_VERSION,
        "dataset": config.dataset,
        "taxonomy": config.taxonomy.name,
        "encoding": config.encoding,
        "files": len(items),
        "converted_files": len(done),
        "failed": report.failed,
        "sources_sha256": digest,
        "segments_json": {
            rel: _sha256((config.root / rel).read_bytes()) for rel in jsons if (config.root / rel).is_file()
        },
        "records": RECORDS,
    }
    if config.converter == NUIMAGES:
        provenance["tables_sha256"] = tables_sha256(config.root)
    tmp = config.out_dir / f".{PROVENANCE}.tmp"
    tmp.write_text(json.dumps(provenance, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, config.out_dir / PROVENANCE)
    return provenance
