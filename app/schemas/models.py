"""Model (teacher/student) edge schemas (schemas layer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.schemas.common import ORMModel, Page

ModelSource = Literal["folder", "hf_id", "paper_pth"]


class NormalizationSchema(BaseModel):
    """Per-channel pixel normalisation on the 0-255 scale: ``(x - mean) / std``."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]


class ModelCreate(BaseModel):
    """Register a teacher: a folder (unilabel or Hugging Face), a cached HF id, or a paper ``.pth``."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    role: Literal["teacher", "student"] = "teacher"
    source: ModelSource
    spec: str = Field(min_length=1, description="Folder or .pth path inside the data roots, or an HF id")
    taxonomy_id: int = Field(description="Target taxonomy: its classes must equal the model's id2label")
    normalization: NormalizationSchema | None = None
    trust_pickle: bool = Field(
        default=False, description="Allow unsafe unpickling of a .pth (trusted files only)"
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
    trust_pickle: bool
    checksum: str | None
    created_at: datetime


class ModelList(Page[ModelRead]):
    pass
