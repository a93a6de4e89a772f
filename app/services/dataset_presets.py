"""Registration from a dataset preset: variant detection, taxonomy and palette (services layer).

:func:`resolve_preset` turns ``preset + root`` into a complete :class:`DatasetCreate` (the
variant's pairing rule, encoding and splits), finds the taxonomy imported from the preset's
``labels.csv`` by name, and resolves the palette of colour-coded labels into ``(colour, value)``
pairs. A variant whose labels an implemented converter reads (:mod:`app.domain.native_labels`) is
paired with the label-id PNGs a ``convert_labels`` job writes (``PresetChoice.converter``). It
refuses, naming what is missing, when the layout needs a converter unilabel lacks, when
no variant matches the files, or when the taxonomy or the palette cannot be found. The service
never imports :mod:`app.services.datasets` (the caller passes the file listing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models_registry import Dataset
from app.domain.dataset_presets import (
    CONVERTERS,
    UNPACK_HINTS,
    DatasetPreset,
    PaletteSource,
    PresetPalette,
    PresetVariant,
    VariantCount,
    detect_variant,
    match_variant,
)
from app.domain.errors import InvalidInput, NotFound
from app.domain.label_codec import Palette, palette_from_colors
from app.domain.native_labels import (
    IMPLEMENTED,
    NUIMAGES,
    RECORDS,
    converted_template,
    encoding_for,
    native_template,
)
from app.domain.nuimages import splits_from_records
from app.domain.palette_files import parse_palette_file
from app.domain.preset_catalog import PRESETS, get_preset
from app.domain.split_lists import SplitAssignment, assign_splits, find_split_lists
from app.domain.taxonomy import Taxonomy
from app.schemas.datasets import (
    DatasetCreate,
    DatasetPresetRead,
    DatasetPresetVariantRead,
    PresetReport,
    PresetSplit,
    PresetVariantCount,
)
from app.services import taxonomies as taxonomy_service

MAX_PALETTE_FILE_BYTES = 1_000_000
MAX_SPLIT_LIST_BYTES = 50_000_000


@dataclass(frozen=True, slots=True)
class PresetChoice:
    """A preset resolved against a root: the filled-in request, the variant and the palette."""

    body: DatasetCreate
    preset: DatasetPreset
    variant: str | None
    palette: Palette | None
    converter: str | None = None  # native labels converted by a convert_labels job


def _variant_text(preset: DatasetPreset, counts: tuple[VariantCount, ...]) -> str:
    looked = "; ".join(
        f"{v.key}: {v.image_pattern} -> {v.label_template} ({c.images} images, {c.pairs} with labels)"
        for v, c in zip(preset.variants, counts, strict=True)
    )
    return looked or "(no layout known)"


def _choose_variant(preset: DatasetPreset, body: DatasetCreate, files: list[str]) -> PresetVariant | None:
    if body.variant is not None:
        chosen = preset.variant(body.variant)
        if chosen is None:
            known = ", ".join(v.key for v in preset.variants) or "none"
            raise InvalidInput(
                f"preset {preset.key!r} has no variant {body.variant!r}; its variants: {known}",
                field="variant",
            )
        return chosen
    if body.image_pattern or body.list_file:
        return None  # the caller's own rule; the preset gives taxonomy, splits and palette
    if not preset.variants:
        raise InvalidInput(
            f"preset {preset.key!r} ({preset.title}) knows no folder layout: give image_pattern and "
            "label_template (the preset then gives the taxonomy)",
            field="image_pattern",
        )
    key, counts = detect_variant(preset, files)
    if key is None:
        raise InvalidInput(
            f"no files under {body.root!r} match preset {preset.key!r} ({preset.title}); looked for "
            f"{_variant_text(preset, counts)}. Check the root folder, or give image_pattern and "
            "label_template to override the layout.",
            field="root",
        )
    return preset.variant(key)


def _refuse_converter(preset: DatasetPreset, variant: PresetVariant) -> None:
    if variant.converter is None or variant.converter in IMPLEMENTED:
        return
    raise InvalidInput(
        f"preset {preset.key!r} ({variant.key}: {variant.description}) stores its labels in a format "
        f"unilabel cannot read yet: it needs the {variant.converter!r} converter "
        f"({CONVERTERS[variant.converter]}), which is not implemented. "
        + (
            UNPACK_HINTS[variant.converter][0].upper() + UNPACK_HINTS[variant.converter][1:] + "."
            if variant.converter in UNPACK_HINTS
            else "Convert the labels to label-id PNGs with the dataset's own tools and register those "
            "with image_pattern and label_template."
        ),
        field="preset",
        details={"converter": variant.converter, "variant": variant.key},
    )


def _taxonomy_id(session: Session, preset: DatasetPreset, body: DatasetCreate) -> int:
    if body.taxonomy_id is not None:
        return body.taxonomy_id
    csv = f" (the authors' {preset.labels_csv})" if preset.labels_csv else ""
    if preset.taxonomy_name is not None:
        try:
            return int(taxonomy_service.get_taxonomy_by_name(session, preset.taxonomy_name).id)
        except NotFound:
            pass
        raise InvalidInput(
            f"preset {preset.key!r} needs the taxonomy {preset.taxonomy_name!r}{csv}, which is not "
            f"imported: run `unilabel taxonomy import .../{preset.labels_csv}` or give taxonomy_id",
            field="taxonomy_id",
        )
    raise InvalidInput(
        f"preset {preset.key!r} has no reference labels.csv: give taxonomy_id ({preset.notes[0]})",
        field="taxonomy_id",
    )


def _read_palette_file(root: Path, palette: PresetPalette) -> tuple[str, Palette]:
    for rel, fmt in palette.files:
        path = Path(os.path.realpath(root / rel))
        if not path.is_relative_to(root) or not path.is_file():
            continue
        if path.stat().st_size > MAX_PALETTE_FILE_BYTES:
            raise InvalidInput(f"palette file {rel!r} is larger than 1 MB", field="root")
        return rel, parse_palette_file(path.read_text(encoding="utf-8", errors="replace"), fmt)
    wanted = " or ".join(repr(rel) for rel, _ in palette.files)
    raise InvalidInput(
        f"the colour-coded labels are decoded with {palette.origin}, but {wanted} is not in the root",
        field="root",
    )


def _builtin_palette(palette: PresetPalette, taxonomy: Taxonomy) -> Palette:
    missing = [name for _, name in palette.colors if not taxonomy.has_name(name)]
    if missing:
        raise InvalidInput(
            f"taxonomy {taxonomy.name!r} has no labels named {missing}; the preset's colours "
            f"({palette.origin}) are given by the names of the reference labels.csv",
            field="taxonomy_id",
        )
    return tuple((color, taxonomy.label_by_name(name).value) for color, name in palette.colors)


def resolve_palette(root: Path, palette: PresetPalette, taxonomy: Taxonomy) -> Palette:
    """``(colour, value)`` pairs of a preset's palette, checked against the taxonomy's values.

    Raises:
        InvalidInput: the palette file is missing or malformed, a name or value is not in the taxonomy.
    """
    if palette.source is PaletteSource.TAXONOMY:
        if not taxonomy.colors:
            raise InvalidInput(
                f"the labels are colour-coded with {palette.origin}, but taxonomy {taxonomy.name!r} "
                "has no colours",
                field="taxonomy_id",
            )
        return palette_from_colors(taxonomy.colors)
    if palette.source is PaletteSource.BUILTIN:
        return _builtin_palette(palette, taxonomy)
    rel, resolved = _read_palette_file(root, palette)
    unknown = sorted({v for _, v in resolved} - set(taxonomy.values))
    if unknown:
        raise InvalidInput(
            f"palette file {rel!r} gives values {unknown[:10]} that taxonomy {taxonomy.name!r} does not have",
            field="taxonomy_id",
        )
    return resolved


def split_assignment(preset: DatasetPreset, root: Path, files: list[str]) -> SplitAssignment | None:
    """Image -> split from the preset's split list files under ``root`` (None when it has none there).

    ``files``: the root's listing (the lists are found in it, and the listed images among it).
    """
    found = find_split_lists(preset.split_lists, files)
    if not found:
        return None
    lists = []
    for split, rel in found:
        path = root / rel
        if path.stat().st_size > MAX_SPLIT_LIST_BYTES:
            raise InvalidInput(
                f"split list {rel!r} is larger than {MAX_SPLIT_LIST_BYTES} bytes", field="root"
            )
        lists.append((split, rel, path.read_text(encoding="utf-8", errors="replace")))
    columns = {s.split: s.column for s in preset.split_lists if s.column is not None}
    return assign_splits(files, lists, columns)


def _split_list_notes(assignment: SplitAssignment) -> list[str]:
    notes = []
    for use in assignment.uses:
        text = f"split list {use.path}: {use.listed} images listed as {use.split!r}, {use.matched} found"
        if use.missing:
            text += f"; {use.missing} not found, e.g. {', '.join(use.missing_examples[:3])}"
        notes.append(text)
    if assignment.twice:
        notes.append(f"listed in two split lists (the first kept): {', '.join(assignment.twice[:3])}")
    return notes


def resolve_preset(session: Session, *, body: DatasetCreate, root: Path, files: list[str]) -> PresetChoice:
    """Fill ``body`` from its preset (explicit fields win); see the module docstring.

    Raises:
        InvalidInput: unknown preset or variant, a converter is needed, nothing matches, no taxonomy
        or palette.
    """
    preset = get_preset(body.preset or "")
    variant = _choose_variant(preset, body, files)
    if variant is not None:
        _refuse_converter(preset, variant)
    taxonomy_id = _taxonomy_id(session, preset, body)
    # A rule of the caller's own (list file, pattern) still reads the preset's encoding and colours.
    layout = variant or (preset.variants[0] if preset.variants else None)
    encoding = body.label_encoding or (layout.encoding.value if layout else "ids8")
    converter = variant.converter if variant is not None and not body.image_pattern else None
    native = native_template(converter, variant.image_pattern, variant.label_template) if variant else None
    if converter is not None and variant is not None and native is not None:
        # Native labels: paired with the label-id PNGs the conversion job writes (same names, .png).
        encoding = encoding_for(taxonomy_service.load_taxonomy(session, taxonomy_id))
        variant = replace(variant, label_template=converted_template(native))
    palette = None
    if encoding == "rgb" and layout is not None and layout.palette is not None:
        taxonomy = taxonomy_service.load_taxonomy(session, taxonomy_id)
        palette = resolve_palette(root, layout.palette, taxonomy)
    assignment = split_assignment(preset, root, files)
    listed = (
        sorted(set(assignment.splits.values()), key=[s.split for s in preset.split_lists].index)
        if assignment
        else []
    )
    filled = body.model_copy(
        update={
            "name": body.name or preset.key,
            "preset": preset.key,
            "taxonomy_id": taxonomy_id,
            "image_pattern": body.image_pattern
            or (variant.image_pattern if variant and not body.list_file else None),
            "label_template": body.label_template
            if body.image_pattern or body.list_file
            else (variant.label_template if variant else None),
            "label_encoding": encoding,
            "splits": body.splits if body.splits is not None else list(preset.splits) or listed,
        }
    )
    return PresetChoice(filled, preset, variant.key if variant else None, palette, converter)


def converted_splits(row: Dataset) -> SplitAssignment | None:
    """nuImages: image -> split from the release folder (``v1.0-<split>``) its annotations were read
    from, as the conversion recorded it; None before a conversion (or for other datasets)."""
    if row.label_converter != NUIMAGES or not row.converted_labels_dir:
        return None
    path = Path(row.converted_labels_dir) / RECORDS
    if not path.is_file():
        return None
    return SplitAssignment(splits_from_records(path.read_text(encoding="utf-8", errors="replace")), ())


def _converted_pngs(folder: str) -> list[str]:
    root = Path(folder)
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png")) if root.is_dir() else []


def preset_report(row: Dataset, files: list[str]) -> PresetReport | None:
    """What ``files`` hold of the row's preset (None for a dataset registered without one)."""
    preset = PRESETS.get(row.preset or "")
    if preset is None or not row.image_pattern:
        return None
    _, counts = detect_variant(preset, files)
    declared = preset.variant(row.preset_variant or "")
    base = declared or PresetVariant(
        key="custom", description="the registered rule", image_pattern="", label_template=None
    )
    # Converted labels: the root holds the native files, so the preset's native template is matched.
    native = declared is not None and row.label_converter is not None
    template = base.label_template if native else row.label_template
    matched_files = files
    if native and base.label_template is None and row.converted_labels_dir:
        # No native file per image (nuImages' tables): an image's label is its converted PNG.
        template, matched_files = row.label_template, files + _converted_pngs(row.converted_labels_dir)
    rule = replace(base, image_pattern=row.image_pattern, label_template=template)
    assignment = split_assignment(preset, Path(row.root), files)
    listed = assignment.splits if assignment else None
    if (from_tables := converted_splits(row)) is not None:
        listed = from_tables.splits
    match = match_variant(preset, rule, matched_files, counts, listed)
    notes = list(preset.notes) + (_split_list_notes(assignment) if assignment else [])
    if native:
        notes.insert(
            0, f"{row.label_converter} labels, read from the label-id PNGs a convert_labels job wrote"
        )
    best = max(counts, key=lambda c: (c.pairs, c.images), default=None)
    if declared is not None and best is not None and best.variant != declared.key and best.pairs > 0:
        own = next(c for c in counts if c.variant == declared.key)
        if best.pairs > own.pairs:
            notes.insert(
                0,
                f"variant {best.variant!r} now pairs more files ({best.pairs}) than the registered "
                f"{declared.key!r} ({own.pairs}); register again with variant={best.variant!r}",
            )
    return PresetReport(
        preset=preset.key,
        variant=match.variant,
        variants=[PresetVariantCount(variant=c.variant, images=c.images, pairs=c.pairs) for c in counts],
        splits=[
            PresetSplit(split=s.split, images=s.images, pairs=s.pairs, without_label=s.without_label)
            for s in match.splits
        ],
        missing_splits=list(match.missing_splits),
        other_splits=list(match.other_splits),
        unmatched=dict(match.unmatched),
        unmatched_examples=list(match.unmatched_examples),
        notes=notes,
    )


def stored_palette(row: Dataset) -> Palette | None:
    """The dataset's own palette (``(colour, value)`` pairs) stored at registration, or None."""
    if not row.label_palette_json:
        return None
    data: list[Any] = json.loads(row.label_palette_json)
    return tuple((str(c), int(v)) for c, v in data)


def _variant_read(v: PresetVariant) -> DatasetPresetVariantRead:
    return DatasetPresetVariantRead(
        key=v.key,
        description=v.description,
        image_pattern=v.image_pattern,
        label_template=v.label_template,
        encoding=v.encoding.value,
        converter=v.converter,
        palette=v.palette.origin if v.palette else None,
    )


def converter_text(converter: str) -> str:
    """How a variant's labels are read, in words: converted by a job, or not at all yet."""
    if converter in IMPLEMENTED:
        return f"{converter} labels, converted to label-id PNGs by a convert_labels job"
    hint = UNPACK_HINTS.get(converter)
    return f"needs the {converter} converter (not implemented)" + (f"; {hint}" if hint else "")


def list_presets() -> list[DatasetPresetRead]:
    """Every preset, for the API, the form and the CLI."""
    return [
        DatasetPresetRead(
            key=p.key,
            title=p.title,
            labels_csv=p.labels_csv,
            taxonomy_name=p.taxonomy_name,
            splits=list(p.splits),
            layout_verified=p.layout_verified,
            readable=not p.variants
            or any(v.converter is None or v.converter in IMPLEMENTED for v in p.variants),
            variants=[_variant_read(v) for v in p.variants],
            sources=list(p.sources),
            notes=list(p.notes),
        )
        for p in PRESETS.values()
    ]
