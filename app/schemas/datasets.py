"""Dataset edge schemas (schemas layer): registration, read model, scan report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.common import Id, Name, ORMModel, Page, ShortName, Text, Token

LabelEncodingName = Literal["ids8", "ids16", "panoptic16", "rgb"]


class DatasetCreate(BaseModel):
    """Register a folder (inside the allowed data roots) as a dataset of ``taxonomy_id``'s labels.

    Give either ``list_file`` (relative to ``root``: one ``image label`` pair per line) or
    ``image_pattern`` + ``label_template`` (e.g. ``images/{split}/{stem}.png`` and
    ``labels/{split}/{stem}.png``).
    """

    name: Name
    description: Text = ""
    taxonomy_id: Id = Field(description="The source taxonomy of the label files")
    root: Token = Field(min_length=1, description="Absolute folder inside UNILABEL_ALLOWED_DATA_ROOTS")
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
    label_encoding: LabelEncodingName = "ids8"
    splits: list[ShortName] = Field(default_factory=list, description="Split names, e.g. ['train', 'val']")
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
                }
            ]
        }
    }


class ScanProblem(BaseModel):
    message: str
    image: str | None = None
    label: str | None = None
    line: int | None = None


class ScanReport(BaseModel):
    """What a scan found: pair counts (per split), problems, image sizes, label values seen."""

    pairs: int
    checked: int
    per_split: dict[str, int] = {}
    problems: list[ScanProblem] = []
    problem_count: int = 0
    sizes: dict[str, int] = {}
    unknown_values: list[int] = []
    truncated: bool = False


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
    pair_count: int | None
    problem_count: int | None
    scanned_at: datetime | None
    created_at: datetime
    scan: ScanReport | None = None
    scan_job_id: int | None = None


class DatasetList(Page[DatasetRead]):
    pass


class ScanResponse(BaseModel):
    dataset_id: int
    report: ScanReport | None = None
    job_id: int | None = None
    extra: dict[str, Any] = {}
