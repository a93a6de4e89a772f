"""Dataset registration and torch-free scanning (services layer).

Folders are only accepted inside the allowed data roots (``UNILABEL_ALLOWED_DATA_ROOTS`` plus the
app's own ``data_dir``). The check runs on the *resolved* path, so ``..`` segments and symlinks that
lead outside a root are refused too. A scan pairs the files with :mod:`app.domain.pairing` and
checks each pair with Pillow headers (sizes) and, for small datasets, label values; it never imports
torch, so the web process can run it inline. Large datasets are scanned by a ``scan_dataset`` job.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models_registry import Dataset
from app.domain.dataset_presets import restrict_to_splits
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.label_codec import (
    LabelEncoding,
    Palette,
    check_label_values,
    decode_label,
    palette_from_colors,
)
from app.domain.pairing import (
    Pair,
    PairingResult,
    compile_image_pattern,
    pairs_from_list_file,
    pairs_from_template,
    parse_label_template,
)
from app.domain.preset_catalog import PRESETS
from app.domain.split_lists import apply_assignment
from app.domain.taxonomy import Taxonomy
from app.schemas.datasets import DatasetCreate, ScanProblem, ScanReport
from app.services import dataset_presets as preset_service
from app.services import taxonomies as taxonomy_service

INLINE_SCAN_LIMIT = 2000  # pairs checked in the request; larger datasets get a scan job
VALUE_CHECK_LIMIT = 200  # label files decoded to collect unknown values
MAX_PROBLEMS = 500


def allowed_roots(settings: Settings) -> list[Path]:
    """The resolved folders datasets and models may live in."""
    roots = [*settings.allowed_data_roots, settings.data_dir]
    return [Path(os.path.realpath(r)) for r in roots]


def resolve_inside_roots(path: str, settings: Settings, *, field: str = "root") -> Path:
    """The real path of ``path`` if it lies inside an allowed root.

    Raises:
        InvalidInput: relative path, or outside every root (also through ``..`` or a symlink).
    """
    if not path or not os.path.isabs(path):
        raise InvalidInput(f"{field} {path!r} must be an absolute path", field=field)
    real = Path(os.path.realpath(path))
    roots = allowed_roots(settings)
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise InvalidInput(
            f"{field} {path!r} resolves to {str(real)!r}, which is outside the allowed data roots "
            f"{[str(r) for r in roots]} (set UNILABEL_ALLOWED_DATA_ROOTS)",
            field=field,
            details={"resolved": str(real), "allowed_roots": [str(r) for r in roots]},
        )
    return real


def _list_files(root: Path) -> list[str]:
    """Relative posix paths of the files under ``root`` (hidden entries skipped; no symlink escape)."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = Path(dirpath).relative_to(root)
        for name in filenames:
            if name.startswith("."):
                continue
            full = Path(dirpath) / name
            if full.is_symlink() and not Path(os.path.realpath(full)).is_relative_to(root):
                continue
            out.append((rel / name).as_posix())
    return sorted(out)


list_files = _list_files  # the listing rule, for other services (app.services.label_conversions)


def label_root(row: Dataset) -> Path:
    """Where ``row``'s label paths start: its converted labels' folder, else its root."""
    return Path(row.converted_labels_dir or row.root)


def _pairing_files(row: Dataset, root: Path) -> list[str]:
    """The files paired: for converted labels, the root's images and the converted folder's PNGs."""
    files = _list_files(root)
    if not row.converted_labels_dir:
        return files
    regex = compile_image_pattern(row.image_pattern or "")
    converted = Path(row.converted_labels_dir)
    labels = _list_files(converted) if converted.is_dir() else []
    return [f for f in files if regex.match(f)] + labels


def pair_dataset(row: Dataset, *, split: str | None = None) -> PairingResult:
    """Pair the dataset's files by its rule (optionally only ``split``)."""
    root = Path(row.root)
    if not root.is_dir():
        raise InvalidInput(f"dataset root {row.root!r} is not a folder", field="root")
    files = _pairing_files(row, root)
    if row.list_file:
        text = (root / row.list_file).read_text(encoding="utf-8")
        result = pairs_from_list_file(text, available=set(files))
    else:
        try:
            result = pairs_from_template(files, row.image_pattern or "", row.label_template)
        except InvalidInput as exc:
            # A row stored before templates were validated (or by hand): refuse clearly, never run it.
            raise InvalidInput(
                f"dataset {row.name!r} (id {row.id}) has an invalid pairing rule: {exc.message}. "
                "Delete the dataset and register it again with a valid rule.",
                field=exc.field,
                column=exc.column,
                details={**exc.details, "dataset_id": row.id},
            ) from None
    preset = PRESETS.get(row.preset or "")
    if preset is not None and row.image_pattern:
        # A preset names its split folders: CamVid's train_labels/ is not a split of images.
        result = restrict_to_splits(result, row.image_pattern, preset.splits)[0]
    if preset is not None and preset.split_lists:
        # Splits published as list files (RELLIS-3D's *.lst) are applied when they are in the root.
        listing = _list_files(root) if row.converted_labels_dir else files
        assignment = preset_service.split_assignment(preset, root, listing)
        if assignment is not None:
            result = apply_assignment(result, assignment)
    if (from_tables := preset_service.converted_splits(row)) is not None:
        # nuImages: each converted image's split is its release folder's (v1.0-train, ...).
        result = apply_assignment(result, from_tables)
    if split is not None:
        result = PairingResult(tuple(p for p in result.pairs if p.split == split), result.problems)
    return result


@dataclass(slots=True)
class _Seen:
    """What decoding label pixels found: values, and colours outside the palette (rgb)."""

    values: set[int] = field(default_factory=set)
    colors: set[str] = field(default_factory=set)
    color_pixels: int = 0


def _decode_values(array: np.ndarray, encoding: LabelEncoding, palette: Palette | None, seen: _Seen) -> None:
    decoded = decode_label(array, encoding, palette=palette)
    values = np.unique(decoded.values)
    seen.values |= {int(v) for v in values if v >= 0}
    seen.color_pixels += decoded.unknown_color_pixels
    seen.colors |= set(decoded.unknown_colors)


def _check_pair(
    roots: tuple[Path, Path],
    pair: Pair,
    encoding: LabelEncoding,
    decode: bool,
    palette: Palette | None,
    seen: _Seen,
) -> tuple[str, str | None]:
    """(size key, problem or None) of one pair, from headers (+ pixels into ``seen`` if decode).

    ``roots``: where the image and the label paths start.
    """
    root, labels = roots
    try:
        with Image.open(root / pair.image) as im:
            w, h = im.size
    except Exception as exc:
        return "?", f"unreadable image ({type(exc).__name__})"
    if pair.label is None:
        return f"{w}x{h}", None
    rgb = encoding is LabelEncoding.RGB
    try:
        with Image.open(labels / pair.label) as lab:
            lw, lh = lab.size
            array = np.asarray(lab.convert("RGB") if rgb else lab) if decode else None
    except Exception as exc:
        return f"{w}x{h}", f"unreadable label ({type(exc).__name__})"
    if (lw, lh) != (w, h):
        return f"{w}x{h}", f"label size {lw}x{lh} != image size {w}x{h}"
    if array is not None:
        try:
            _decode_values(array, encoding, palette, seen)
        except InvalidInput as exc:
            return f"{w}x{h}", exc.message
    return f"{w}x{h}", None


def scan_pairs(
    root: Path,
    result: PairingResult,
    *,
    encoding: str,
    known_values: set[int],
    max_pairs: int | None = None,
    palette: Palette | None = None,
    labels_root: Path | None = None,
) -> ScanReport:
    """Check every pair's files (headers; label pixels of the first :data:`VALUE_CHECK_LIMIT`).

    ``rgb`` labels are decoded with ``palette``; their colours outside it are counted and listed.
    """
    enc = LabelEncoding(encoding)
    problems = [
        ScanProblem(message=p.message, image=p.image, label=p.label, line=p.line) for p in result.problems
    ]
    pairs = result.pairs if max_pairs is None else result.pairs[:max_pairs]
    sizes: Counter[str] = Counter()
    seen = _Seen()
    for i, pair in enumerate(pairs):
        roots = (root, labels_root or root)
        size, problem = _check_pair(roots, pair, enc, i < VALUE_CHECK_LIMIT, palette, seen)
        sizes[size] += 1
        if problem is not None:
            problems.append(ScanProblem(message=problem, image=pair.image, label=pair.label))
    per_split = Counter(p.split or "" for p in result.pairs)
    return ScanReport(
        pairs=len(result.pairs),
        checked=len(pairs),
        per_split=dict(per_split),
        problems=problems[:MAX_PROBLEMS],
        problem_count=len(problems),
        sizes=dict(sizes.most_common(20)),
        unknown_values=sorted(v for v in seen.values if v not in known_values)[:100],
        unknown_colors=sorted(seen.colors)[:20],
        unknown_color_pixels=seen.color_pixels,
        truncated=len(pairs) < len(result.pairs),
    )


def label_palette(row: Dataset, taxonomy: Taxonomy) -> Palette | None:
    """How ``row``'s rgb labels are decoded: its own palette, else the taxonomy's colours, else None."""
    own = preset_service.stored_palette(row)
    if own is not None:
        return own
    return palette_from_colors(taxonomy.colors) if taxonomy.colors else None


def scan_dataset(session: Session, dataset_id: int, *, max_pairs: int | None = None) -> ScanReport:
    """Scan a registered dataset now and store the report on its row (flush only)."""
    row = get_dataset(session, dataset_id)
    taxonomy = taxonomy_service.load_taxonomy(session, row.taxonomy_id, generated=False)
    report = scan_pairs(
        Path(row.root),
        pair_dataset(row),
        encoding=row.label_encoding,
        known_values=set(taxonomy.values),
        max_pairs=max_pairs,
        palette=label_palette(row, taxonomy),
        labels_root=label_root(row),
    )
    if row.preset:
        report.preset = preset_service.preset_report(row, _list_files(Path(row.root)))
    store_scan(row, report)
    session.flush()
    return report


def store_scan(row: Dataset, report: ScanReport) -> None:
    row.pair_count = report.pairs
    row.problem_count = report.problem_count
    row.scan_json = report.model_dump_json()
    row.scanned_at = utcnow()


def _check_rule(body: DatasetCreate, root: Path) -> None:
    if bool(body.list_file) == bool(body.image_pattern):
        raise InvalidInput("give exactly one of list_file or image_pattern", field="image_pattern")
    if body.image_pattern:
        compile_image_pattern(body.image_pattern)
        if body.label_template is not None:
            parse_label_template(body.label_template, body.image_pattern)
    if body.list_file:
        list_path = Path(os.path.realpath(root / body.list_file))
        if not list_path.is_relative_to(root) or not list_path.is_file():
            raise InvalidInput(
                f"list file {body.list_file!r} is not a file inside the root", field="list_file"
            )


def _any_class_json(body: DatasetCreate, session: Session) -> str | None:
    """The checked ``any_class_values`` as stored JSON (sorted, unique), or None when none."""
    if not body.any_class_values:
        return None
    encoding = LabelEncoding(body.label_encoding or LabelEncoding.IDS8.value)
    known = None
    if encoding is LabelEncoding.RGB and body.taxonomy_id is not None:
        known = taxonomy_service.load_taxonomy(session, body.taxonomy_id, generated=False).values
    values = check_label_values(body.any_class_values, encoding, known=known, field="any_class_values")
    return json.dumps(values)


def any_class_values(row: Dataset) -> list[int]:
    """The dataset's "any class allowed" pixel values (empty when none)."""
    return [int(v) for v in json.loads(row.any_class_values_json or "[]")]


def register_dataset(
    session: Session, *, body: DatasetCreate, settings: Settings, user_id: int | None = None
) -> Dataset:
    """Validate and insert a dataset row (no scan; see :func:`scan_dataset`).

    With ``body.preset`` the rule, encoding, splits, taxonomy and palette come from the preset
    (:func:`app.services.dataset_presets.resolve_preset`); explicit fields override it.
    """
    if body.name is not None and repo.get_dataset_by_name(session, body.name.strip()) is not None:
        raise Conflict(f"a dataset named {body.name.strip()!r} already exists", field="name")
    root = resolve_inside_roots(body.root, settings)
    if not root.is_dir():
        raise InvalidInput(f"root {body.root!r} is not an existing folder", field="root")
    choice = None
    if body.preset is not None:
        choice = preset_service.resolve_preset(session, body=body, root=root, files=_list_files(root))
        body = choice.body
    if body.name is None:
        raise InvalidInput("give a name (or a preset, whose key is the default name)", field="name")
    if body.taxonomy_id is None:
        raise InvalidInput("give taxonomy_id, the source taxonomy of the label files", field="taxonomy_id")
    name = body.name.strip()
    if repo.get_dataset_by_name(session, name) is not None:
        raise Conflict(f"a dataset named {name!r} already exists", field="name")
    taxonomy_service.get_taxonomy(session, body.taxonomy_id)
    _check_rule(body, root)
    row = Dataset(
        name=name,
        description=body.description,
        taxonomy_id=body.taxonomy_id,
        root=str(root),
        list_file=body.list_file,
        image_pattern=body.image_pattern,
        label_template=body.label_template,
        label_encoding=body.label_encoding or LabelEncoding.IDS8.value,
        splits_json=json.dumps(body.splits or []),
        preset=choice.preset.key if choice else None,
        preset_variant=choice.variant if choice else None,
        label_palette_json=json.dumps(choice.palette) if choice and choice.palette else None,
        any_class_values_json=_any_class_json(body, session),
        created_by_id=user_id,
    )
    session.add(row)
    session.flush()
    if choice is not None and choice.converter is not None:
        # Native labels (polygons, panoptic): a convert_labels job writes label-id PNGs here.
        row.label_converter = choice.converter
        row.converted_labels_dir = str(settings.data_dir / "converted" / f"dataset-{row.id}")
        session.flush()
    pair_dataset(row)  # a bad pattern/template raises InvalidInput now, not in a job later
    return row


def get_dataset(session: Session, dataset_id: int) -> Dataset:
    row = repo.get_dataset(session, dataset_id)
    if row is None:
        raise NotFound(f"dataset {dataset_id} does not exist", field="dataset_id")
    return row


def list_datasets(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[Dataset], int]:
    return repo.page_datasets(session, limit=limit, offset=offset)


def delete_dataset(session: Session, dataset_id: int) -> None:
    session.delete(get_dataset(session, dataset_id))
    session.flush()


def dataset_file_path(session: Session, dataset_id: int, relpath: str) -> Path:
    """A file of the dataset (an image or a ground-truth label) by relative path; no escapes.

    Converted labels are looked up in the converted folder first (a COCO label's converted PNG has
    the native panoptic PNG's path).
    """
    row = get_dataset(session, dataset_id)
    if relpath.startswith("/") or ".." in Path(relpath).parts:
        raise InvalidInput(f"{relpath!r} must be a relative path inside the dataset", field="path")
    for base in (row.converted_labels_dir, row.root):
        if not base:
            continue
        root = Path(base).resolve()
        path = (root / relpath).resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    raise NotFound(f"dataset {dataset_id} has no file {relpath!r}", field="path")


def dataset_payload(row: Dataset) -> dict[str, Any]:
    """The fields of ``DatasetRead`` (JSON columns decoded)."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "taxonomy_id": row.taxonomy_id,
        "root": row.root,
        "list_file": row.list_file,
        "image_pattern": row.image_pattern,
        "label_template": row.label_template,
        "label_encoding": row.label_encoding,
        "splits": json.loads(row.splits_json or "[]"),
        "preset": row.preset,
        "preset_variant": row.preset_variant,
        "label_palette": preset_service.stored_palette(row),
        "label_converter": row.label_converter,
        "any_class_values": any_class_values(row),
        "pair_count": row.pair_count,
        "problem_count": row.problem_count,
        "scanned_at": row.scanned_at,
        "created_at": row.created_at,
        "scan": json.loads(row.scan_json) if row.scan_json else None,
    }
