"""Dataset edge schemas (schemas layer): registration, read model, scan report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.common import Id, Name, ORMModel, Page, ShortName, Text, Token

LabelEncodingName = Literal["ids8", "ids16", "panoptic16", "rgb"]


class DatasetCreate(BaseModel):
    """Register a folder (inside the allowed data roots) as a dataset of ``taxonomy_id``'s labels.

    Give either ``preset`` (a published layout, see ``GET /api/v1/datasets/presets``: it fills in the
    pairing rule, encoding, splits and palette, and finds the taxonomy imported from the dataset's
    ``labels.csv`` by name), or ``list_file`` (relative to ``root``: one ``image label`` pair per
    line), or ``image_pattern`` + ``label_template`` (e.g. ``images/{split}/{stem}.png`` and
    ``labels/{split}/{stem}.png``). With a preset, fields given explicitly override it.
    """

    name: Name | None = Field(
        default=None, description="Required unless a preset is given (default: its key)"
    )
    description: Text = ""
    taxonomy_id: Id | None = Field(
        default=None,
        description="The source taxonomy of the label files; with a preset, default: the taxonomy named "
        "as the preset's labels.csv imports",
    )
    root: Token = Field(min_length=1, description="Absolute folder inside UNILABEL_ALLOWED_DATA_ROOTS")
    preset: ShortName | None = Field(default=None, description="A dataset preset key, e.g. 'cityscapes'")
    variant: ShortName | None = Field(
        default=None, description="The preset's layout variant (default: detected from the files)"
    )
    list_file: Token | None = None
    image_pattern: Token | None = Field(
        default=None,
        description="Relative path pattern: {field} placeholders (e.g. {split}, {stem}), globs * ? **/",
    )
    label_template: Token | None = Field(
        default=None,
        description=(
            "Relative path with named fields only: the pattern's placeholders and {stem}, {name}, {dir}; "
            "{{ and }} are literal braces (no attributes, indexing, !conversions or :format specs)"
        ),
    )
    label_encoding: LabelEncodingName | None = Field(
        default=None, description="Default: ids8 (or the preset's)"
    )
    splits: list[ShortName] | None = Field(default=None, description="Split names, e.g. ['train', 'val']")
    any_class_values: list[int] | None = Field(
        default=None,
        max_length=64,
        description="Pixel values whose pixels may take any target class (not void) in pseudo-labelling, "
        "e.g. an ego-vehicle mask; each must be a label value the encoding can hold",
    )
    scan: bool = Field(default=True, description="Scan the files now (large folders: as a scan job)")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "demo-streets",
                    "taxonomy_id": 1,
                    "root": "/data/demo-streets",
                    "image_pattern": "images/{split}/{stem}.png",
                    "label_template": "labels/{split}/{stem}.png",
                    "label_encoding": "ids8",
                    "splits": ["train", "val"],
                },
                {"preset": "cityscapes", "root": "/data/cityscapes"},
            ]
        }
    }


class ScanProblem(BaseModel):
    message: str
    image: str | None = None
    label: str | None = None
    line: int | None = None


class PresetSplit(BaseModel):
    split: str
    images: int
    pairs: int
    without_label: int


class PresetVariantCount(BaseModel):
    variant: str
    images: int
    pairs: int


class PresetReport(BaseModel):
    """What the files hold of the dataset's preset: the variant, per split counts, what does not fit."""

    preset: str
    variant: str
    variants: list[PresetVariantCount] = []
    splits: list[PresetSplit] = []
    missing_splits: list[str] = []
    other_splits: list[str] = []
    unmatched: dict[str, int] = {}
    unmatched_examples: list[str] = []
    notes: list[str] = []


class ScanReport(BaseModel):
    """What a scan found: pair counts (per split), problems, image sizes, label values seen."""

    pairs: int
    checked: int
    per_split: dict[str, int] = {}
    problems: list[ScanProblem] = []
    problem_count: int = 0
    sizes: dict[str, int] = {}
    unknown_values: list[int] = []
    unknown_colors: list[str] = []
    unknown_color_pixels: int = 0
    truncated: bool = False
    preset: PresetReport | None = None


class DatasetRead(ORMModel):
    id: int
    name: str
    description: str
    taxonomy_id: int
    root: str
    list_file: str | None
    image_pattern: str | None
    label_template: str | None
    label_encoding: str
    splits: list[str]
    preset: str | None = None
    preset_variant: str | None = None
    label_palette: list[tuple[str, int]] | None = None
    label_converter: str | None = Field(
        default=None, description="Native label format converted to label-id PNGs by a convert_labels job"
    )
    any_class_values: list[int] = Field(
        default=[], description="Pixel values allowed every target class in pseudo-labelling"
    )
    pair_count: int | None
    problem_count: int | None
    scanned_at: datetime | None
    created_at: datetime
    scan: ScanReport | None = None
    scan_job_id: int | None = None
    conversion_job_id: int | None = None


class DatasetList(Page[DatasetRead]):
    pass


class DatasetPresetVariantRead(BaseModel):
    key: str
    description: str
    image_pattern: str
    label_template: str | None
    encoding: str
    converter: str | None
    palette: str | None = Field(description="Where the colours of rgb labels come from")


class DatasetPresetRead(BaseModel):
    key: str
    title: str
    labels_csv: str | None
    taxonomy_name: str | None
    splits: list[str]
    layout_verified: bool
    readable: bool = Field(description="False when every variant needs a converter unilabel lacks")
    variants: list[DatasetPresetVariantRead]
    sources: list[str]
    notes: list[str]


class ScanResponse(BaseModel):
    dataset_id: int
    report: ScanReport | None = None
    job_id: int | None = None
    extra: dict[str, Any] = {}
