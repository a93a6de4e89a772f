"""Taxonomy edge schemas (schemas layer)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.schemas.common import Int32, LabelName, Name, ORMModel, Page, ShortText, Text

# What app.domain.taxonomy.normalize_color accepts: #rrggbb (# optional, any case) or blank.
COLOR_PATTERN = r"^\s*(#?[0-9a-fA-F]{6})?\s*$"


class LabelSchema(ORMModel):
    """One label; the JSON taxonomy format uses the same keys."""

    value: int = Field(ge=-1, le=65535, description="Pixel value in label images (-1: never a pixel)")
    name: LabelName = Field(description="Matched exactly (not stripped); no control characters")
    color: str | None = Field(default=None, pattern=COLOR_PATTERN, description="#rrggbb")
    category: ShortText | None = None
    ignore: bool = False
    train_id: Int32 | None = None
    category_id: Int32 | None = None
    has_instances: bool | None = None


class LabelRead(LabelSchema):
    color_generated: bool = Field(
        default=False,
        description="The colour was generated on import (the file gave none); false once a person sets one",
    )


class TaxonomyCreate(BaseModel):
    name: Name
    description: Text = ""
    labels: list[LabelSchema] = Field(min_length=1)


class TaxonomyUpdate(BaseModel):
    name: Name | None = None
    description: Text | None = None
    labels: list[LabelSchema] | None = Field(
        default=None, min_length=1, description="Replace the labels (only while no mapping uses the taxonomy)"
    )


class TaxonomySummary(ORMModel):
    id: int
    name: str
    description: str
    label_count: int
    is_class_list: bool = Field(description="Values are 0..N-1: usable as a target taxonomy")
    created_at: datetime
    updated_at: datetime


class TaxonomyRead(TaxonomySummary):
    labels: list[LabelRead]


class FileWarningRead(BaseModel):
    code: str = Field(description="junk_cell or duplicate_label_name")
    message: str
    row: int | None = Field(default=None, description="1-based row of the file")
    column: int | None = Field(default=None, description="1-based column of the file")


class TaxonomyImportRead(TaxonomyRead):
    warnings: list[FileWarningRead] = Field(
        default_factory=list,
        description="Defects of the file that did not stop the import (junk in unused columns, a name "
        "given to several labels), each with its row and column",
    )


TaxonomyList = Page[TaxonomySummary]
