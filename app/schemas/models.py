"""Model (teacher/student) edge schemas (schemas layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, FiniteFloat

from app.schemas.common import Id, Name, ORMModel, Page, Text, Token

PositiveFinite = Annotated[FiniteFloat, Field(gt=0)]
ModelSource = Literal["folder", "hf_id", "paper_pth"]


class NormalizationSchema(BaseModel):
    """Per-channel pixel normalisation on the 0-255 scale: ``(x - mean) / std``."""

    mean: tuple[FiniteFloat, FiniteFloat, FiniteFloat]
    std: tuple[PositiveFinite, PositiveFinite, PositiveFinite]


class ModelCreate(BaseModel):
    """Register a teacher: a folder (unilabel or Hugging Face), a cached HF id, or a paper ``.pth``."""

    name: Name
    description: Text = ""
    role: Literal["teacher", "student"] = "teacher"
    source: ModelSource
    spec: Token = Field(min_length=1, description="Folder or .pth path inside the data roots, or an HF id")
    taxonomy_id: Id = Field(description="Target taxonomy: its classes must equal the model's id2label")
    normalization: NormalizationSchema | None = None
    trust_pickle: bool = Field(
        default=False,
        description="Admins only: trust this paper .pth (recorded with its sha256; converted once to "
        "safetensors). Anyone else gets 403; editors register it untrusted and an admin trusts it later",
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "name": "demo-teacher",
                    "source": "folder",
                    "spec": "/data/models/demo-teacher",
                    "taxonomy_id": 2,
                }
            ]
        }
    }


class ModelRead(ORMModel):
    id: int
    name: str
    description: str
    role: str
    source: str
    spec: str
    taxonomy_id: int
    normalization: NormalizationSchema | None = None
    provenance: dict[str, Any] = {}
    trust_pickle: bool = Field(description="An admin's trust in this .pth is recorded (derived)")
    trust_status: Literal["not_needed", "untrusted", "revoked", "converting", "ready", "failed"]
    trusted_by_id: int | None = None
    trusted_by: str | None = None
    trusted_at: datetime | None = None
    trusted_sha256: str | None = None
    trust_note: str = ""
    converted_path: str | None = None
    conversion_error: str | None = None
    checksum: str | None
    created_at: datetime


class ModelTrust(BaseModel):
    """An admin's decision to trust a paper ``.pth`` (recorded with who, when and its sha256)."""

    note: Text = Field(default="", max_length=2000, description="Why the file is trusted (recorded)")


class ModelList(Page[ModelRead]):
    pass
