"""Dataset presets: the published folder layout of a dataset, and what a scan found of it. Pure domain layer.

A :class:`DatasetPreset` says how a dataset is laid out as its authors publish it: one or more
:class:`PresetVariant` (release versions differ), each an image pattern plus a label template for
:mod:`app.domain.pairing`, the label encoding, the palette of a colour-coded release, and the
converter a format needs when unilabel cannot read it yet. The catalogue of the paper's 21 datasets
is :mod:`app.domain.preset_catalog`; ``docs/datasets.md`` gives each layout fact with its source.

:func:`detect_variant` pairs a file listing by every variant and picks the one that pairs most
files; :func:`match_variant` reports per split what it found and which files do not fit the preset.
"""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath

from app.domain.label_codec import LabelEncoding
from app.domain.pairing import PairingResult, compile_image_pattern, pairs_from_template
from app.domain.split_lists import SplitList

CONVERTERS: dict[str, str] = {
    "cityscapes-polygons": "Cityscapes-style polygon JSON (*_polygons.json) to label-id PNGs",
    "coco-panoptic": "COCO panoptic (panoptic PNG + JSON segments_info) to label-id PNGs",
    "nuimages": "nuImages (JSON tables + RLE object/surface masks) to label-id PNGs",
    "waymo-parquet": "Waymo Open Dataset v2 camera_segmentation Parquet to label-id PNGs",
}
"""Label formats that need a conversion into label-id PNGs (name -> what it converts); those in
:data:`app.domain.native_labels.IMPLEMENTED` are converted by a ``convert_labels`` job, the
others are refused at registration."""

UNPACK_HINTS: dict[str, str] = {
    "waymo-parquet": (
        "unpack the release with `unilabel unpack-waymo --root <release> --out <folder>` "
        "and register <folder> with this preset (variant unpacked)"
    ),
}
"""Converters that are a command instead of a job: what to run (shown in refusals and the preset list)."""

MAX_EXAMPLES = 10


class PaletteSource(StrEnum):
    TAXONOMY = "taxonomy"  # the colours of the labels.csv the dataset is registered with
    FILE = "file"  # a palette file shipped with the dataset (app.domain.palette_files)
    BUILTIN = "builtin"  # colours published with the dataset, kept here by label name


@dataclass(frozen=True, slots=True)
class PresetPalette:
    """Where the colours of a colour-coded (``rgb``) release come from.

    Attributes:
        source: see :class:`PaletteSource`.
        files: ``(path relative to the root, format)`` tried in order (``file`` only).
        colors: ``("#rrggbb", label name in the labels.csv)`` (``builtin`` only).
        origin: where the colours are published (shown in errors and docs).
    """

    source: PaletteSource
    files: tuple[tuple[str, str], ...] = ()
    colors: tuple[tuple[str, str], ...] = ()
    origin: str = ""


@dataclass(frozen=True, slots=True)
class PresetVariant:
    """One published layout of a dataset.

    Attributes:
        key: short name, e.g. ``"v1.2"``.
        description: what the variant is (release, archive).
        image_pattern: :mod:`app.domain.pairing` image pattern, relative to the registered root.
        label_template: label template; None when labels are not one file per image (nuImages).
        encoding: label encoding of the label files (ignored when ``converter`` is set).
        converter: a key of :data:`CONVERTERS` when the labels must be converted first.
        segments_json: ``coco-panoptic``: the JSON with the segments_info, relative to the root
            (may hold ``{split}``).
        palette: colours of an ``rgb`` release.
        other_files: fnmatch patterns of files the layout holds besides images and labels
            (colour previews, instance maps, ...); a scan does not list them as unmatched.
    """

    key: str
    description: str
    image_pattern: str
    label_template: str | None
    encoding: LabelEncoding = LabelEncoding.IDS8
    converter: str | None = None
    segments_json: str | None = None
    palette: PresetPalette | None = None
    other_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DatasetPreset:
    """A dataset as published.

    Attributes:
        key: CLI/API name, e.g. ``"cityscapes"``.
        title: display name.
        labels_csv: the authors' reference list it needs (``<folder>/labels.csv``), or None.
        taxonomy_name: the name ``unilabel taxonomy import`` gives that file (looked up when no
            taxonomy is given).
        splits: split names as the layout's ``{split}`` folders spell them; () when the layout
            has no split folders. When set, images of other ``{split}`` values are not paired.
        variants: the layouts, the most common first.
        layout_verified: False when the layout could not be checked against an official source.
        sources: official READMEs / devkits the layout comes from.
        notes: what the preset is not certain of, and what it does not cover.
        split_lists: list files that give the splits when the layout has no split folders
            (:mod:`app.domain.split_lists`); applied when present in the root.
    """

    key: str
    title: str
    labels_csv: str | None
    taxonomy_name: str | None
    splits: tuple[str, ...]
    variants: tuple[PresetVariant, ...]
    layout_verified: bool = True
    sources: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    split_lists: tuple[SplitList, ...] = ()

    def variant(self, key: str) -> PresetVariant | None:
        return next((v for v in self.variants if v.key == key), None)


@dataclass(frozen=True, slots=True)
class VariantCount:
    """How much of a listing one variant pairs: images matched and images with their label."""

    variant: str
    images: int
    pairs: int


@dataclass(frozen=True, slots=True)
class SplitCount:
    split: str
    images: int
    pairs: int

    @property
    def without_label(self) -> int:
        return self.images - self.pairs


@dataclass(frozen=True, slots=True)
class PresetMatch:
    """What a listing holds of a preset, for one variant (the best one unless asked).

    Attributes:
        variant: the variant key used.
        pairing: its pairing result (only images of the preset's splits when it names splits).
        counts: every variant's counts, in declaration order (how the variant was chosen).
        splits: per split found: images and pairs.
        missing_splits: splits of the preset with no image.
        other_splits: ``{split}`` values found that the preset does not name (not paired).
        unmatched: files neither paired nor known as ``other_files``, by top folder.
        unmatched_examples: a few of them.
    """

    variant: str
    pairing: PairingResult
    counts: tuple[VariantCount, ...]
    splits: tuple[SplitCount, ...]
    missing_splits: tuple[str, ...]
    other_splits: tuple[str, ...]
    unmatched: tuple[tuple[str, int], ...]
    unmatched_examples: tuple[str, ...]


def _split_of(regex: re.Pattern[str], image: str | None) -> str | None:
    m = regex.match(image or "")
    return m.groupdict().get("split") if m else None


def restrict_to_splits(
    result: PairingResult, image_pattern: str, splits: Collection[str]
) -> tuple[PairingResult, tuple[str, ...]]:
    """Keep the pairs and problems of images whose ``{split}`` is in ``splits`` (all when empty).

    Problems of other splits go too: ``train_labels/x_L.png`` matching ``{split}/{stem}.png`` is
    CamVid's label folder, not a split whose labels are missing.

    Returns:
        (the restricted result, the other ``{split}`` values found, sorted).
    """
    if not splits:
        return result, ()
    regex = compile_image_pattern(image_pattern)
    keep = {None, "", *splits}
    pairs = tuple(p for p in result.pairs if p.split in keep)
    problems = tuple(p for p in result.problems if p.image is None or _split_of(regex, p.image) in keep)
    labels = {p.label for p in pairs}  # a kept pair's label matching the image pattern is no image
    other = {p.split for p in result.pairs if p.split not in keep and p.image not in labels}
    other |= {
        s for p in result.problems if (s := _split_of(regex, p.image)) not in keep and p.image not in labels
    }
    return PairingResult(pairs, problems), tuple(sorted(s for s in other if s))


def pair_variant(variant: PresetVariant, files: Sequence[str], splits: Collection[str] = ()) -> PairingResult:
    """Pair ``files`` by ``variant``, only images of ``splits`` when given."""
    result = pairs_from_template(files, variant.image_pattern, variant.label_template)
    return restrict_to_splits(result, variant.image_pattern, splits)[0]


def _count(variant: PresetVariant, result: PairingResult) -> VariantCount:
    images = len(result.pairs) + sum(1 for p in result.problems if p.image is not None)
    return VariantCount(variant.key, images, sum(1 for p in result.pairs if p.label is not None))


def detect_variant(
    preset: DatasetPreset, files: Sequence[str]
) -> tuple[str | None, tuple[VariantCount, ...]]:
    """The variant that fits ``files`` best, and every variant's counts (declaration order).

    Best: a variant unilabel can read that pairs anything (Cityscapes keeps its polygons next to
    the label-id PNGs made from them); then the most images paired with a label (for a variant
    without label files, such as nuImages: the most images), then the most images; ties go to the
    variant declared first. None when the preset has no variants or none matches a single image.
    """
    counts = tuple(_count(v, pair_variant(v, files, preset.splits)) for v in preset.variants)
    best: str | None = None
    best_key = (False, 0, 0)
    for variant, count in zip(preset.variants, counts, strict=True):
        paired = count.pairs if variant.label_template is not None else count.images
        key = (variant.converter is None and paired > 0, paired, count.images)
        if key > best_key:
            best, best_key = variant.key, key
    return best, counts


def match_variant(
    preset: DatasetPreset,
    variant: PresetVariant,
    files: Sequence[str],
    counts: tuple[VariantCount, ...] = (),
    listed: Mapping[str, str] | None = None,
) -> PresetMatch:
    """What ``files`` hold of ``preset`` laid out as ``variant`` (which may carry overridden patterns).

    ``listed``: image -> split from the preset's split list files, when they were found; the
    per-split counts then follow the lists (images no list names count as split ``""``).
    """
    full = pairs_from_template(files, variant.image_pattern, variant.label_template)
    result, other_splits = restrict_to_splits(full, variant.image_pattern, preset.splits)
    split_counts = _split_counts(variant, result, listed)
    found = {p.split for p in result.pairs} | {c.split for c in split_counts}
    unmatched, examples = _unmatched(variant, files, full)
    return PresetMatch(
        variant=variant.key,
        pairing=result,
        counts=counts,
        splits=split_counts,
        missing_splits=tuple(s for s in preset.splits if s not in found),
        other_splits=other_splits,
        unmatched=unmatched,
        unmatched_examples=examples,
    )


def _split_counts(
    variant: PresetVariant, result: PairingResult, listed: Mapping[str, str] | None = None
) -> tuple[SplitCount, ...]:
    regex = compile_image_pattern(variant.image_pattern)

    def split(image: str, own: str | None) -> str:
        return (listed.get(image, "") if listed is not None else own) or ""

    pairs = Counter(split(p.image, p.split) for p in result.pairs if p.label is not None)
    images = Counter(split(p.image, p.split) for p in result.pairs)
    images.update(split(p.image, _split_of(regex, p.image)) for p in result.problems if p.image is not None)
    return tuple(SplitCount(s, images[s], pairs.get(s, 0)) for s in sorted(images))


def _unmatched(
    variant: PresetVariant, files: Sequence[str], result: PairingResult
) -> tuple[tuple[tuple[str, int], ...], tuple[str, ...]]:
    """Files neither paired, nor the palette file, nor ``other_files``: (count per top folder, examples)."""
    used = {p.image for p in result.pairs} | {p.label for p in result.pairs if p.label is not None}
    used |= {p.image for p in result.problems if p.image is not None}
    used |= {rel for rel, _ in variant.palette.files} if variant.palette else set()
    rest = [
        f
        for f in files
        if f not in used and not any(fnmatch.fnmatchcase(f, pat) for pat in variant.other_files)
    ]
    folders = Counter(PurePosixPath(f).parts[0] if "/" in f else "." for f in rest)
    top = tuple(sorted(folders.items(), key=lambda kv: (-kv[1], kv[0]))[:20])
    return top, tuple(rest[:MAX_EXAMPLES])
