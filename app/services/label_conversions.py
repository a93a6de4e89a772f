"""Native label formats (services layer): what a ``convert_labels`` job converts, and its checks.

A dataset registered from a preset variant with an implemented converter
(:data:`app.domain.native_labels.IMPLEMENTED`) stores the converter and the folder
``<data_dir>/converted/dataset-<id>`` on its row; its label template names the converted PNGs, and
:func:`app.services.datasets.pair_dataset` reads its labels from that folder. The job converts
:func:`conversion_items` (every image of the preset's splits with its native label file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.db.models_registry import Dataset
from app.domain.dataset_presets import PresetVariant, restrict_to_splits
from app.domain.errors import InvalidInput
from app.domain.native_labels import IMPLEMENTED, NUIMAGES, ConversionItem, converted_path, native_template
from app.domain.pairing import pairs_from_template
from app.domain.preset_catalog import PRESETS
from app.schemas.jobs import ConvertLabelsParams
from app.services import datasets as dataset_service


def native_variant(row: Dataset) -> PresetVariant:
    """The preset layout whose native labels ``row`` converts.

    Raises:
        InvalidInput: the dataset has no native labels to convert (or its preset lost the variant).
    """
    preset = PRESETS.get(row.preset or "")
    variant = preset.variant(row.preset_variant or "") if preset else None
    if (
        row.label_converter not in IMPLEMENTED
        or variant is None
        or variant.converter != row.label_converter
        or native_template(variant.converter, variant.image_pattern, variant.label_template) is None
        or not row.converted_labels_dir
    ):
        raise InvalidInput(
            f"dataset {row.name!r} (id {row.id}) has no native labels to convert: only datasets "
            f"registered from a preset variant in {sorted(IMPLEMENTED)} format are converted",
            field="dataset_id",
        )
    return variant


def conversion_items(row: Dataset) -> list[ConversionItem]:
    """Every native label file of the dataset's images (preset splits only), with its output path."""
    variant = native_variant(row)
    template = native_template(variant.converter, variant.image_pattern, variant.label_template)
    root = Path(row.root)
    if not root.is_dir():
        raise InvalidInput(f"dataset root {row.root!r} is not a folder", field="root")
    preset = PRESETS[row.preset or ""]
    files = dataset_service.list_files(root)
    pattern = row.image_pattern or variant.image_pattern
    nuimages = variant.converter == NUIMAGES
    result = pairs_from_template(files, pattern, None if nuimages else template)
    result = restrict_to_splits(result, pattern, preset.splits)[0]
    if nuimages:  # labels drawn from the tables, one per image: the image names its output
        return [ConversionItem(p.image, converted_path(p.image)) for p in result.pairs]
    items: list[ConversionItem] = []
    for pair in result.pairs:
        if pair.label is None:
            continue
        segments = variant.segments_json
        if segments is not None:
            segments = segments.replace("{split}", pair.split or "")
        items.append(ConversionItem(pair.label, converted_path(pair.label), segments))
    return items


def check_conversion(session: Any, params: ConvertLabelsParams) -> dict[str, Any]:
    """Column values of a ``convert_labels`` job row; refuses a dataset without native labels."""
    row = dataset_service.get_dataset(session, params.dataset_id)
    native_variant(row)
    return {"dataset_id": row.id}
