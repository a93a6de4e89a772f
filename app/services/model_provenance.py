"""Where a model came from (services layer): its recorded provenance, the provenance its checkpoint
folder carries (``unilabel.json``: code versions, when and how it was written), and the names of
the models, datasets and mapping versions those records point to by id.

No weights are read: only the small metadata file, and only when it is at most 1 MB.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db.models_registry import Model
from app.domain.errors import NotFound
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service

METADATA_FILE = "unilabel.json"
METADATA_MAX_BYTES = 1_000_000


def checkpoint_provenance(row: Model) -> dict[str, Any]:
    """The ``provenance`` of a unilabel checkpoint folder's metadata, or ``{}`` (other sources)."""
    folder = Path(row.converted_path or row.spec)
    meta = folder / METADATA_FILE
    if row.source == "hf_id" and not row.converted_path:
        return {}
    try:
        if not meta.is_file() or meta.stat().st_size > METADATA_MAX_BYTES:
            return {}
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get("provenance") if isinstance(data, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def _sets(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key in ("training_sets", "validation_sets"):
        out += [s for s in provenance.get(key) or [] if isinstance(s, dict)]
    return out


def _ids(values: Iterable[Any]) -> set[int]:
    return {int(v) for v in values if isinstance(v, int) and not isinstance(v, bool)}


def referenced_names(session: Session, provenance: dict[str, Any]) -> dict[str, dict[int, Any]]:
    """Names of the models, datasets and mapping versions a model's provenance refers to by id.

    ``mappings`` maps a version id to ``{"mapping_id", "name", "number", "hash"}``; ids whose row
    has been deleted are left out (the card then shows the bare id).
    """
    sets = _sets(provenance)
    model_ids = _ids([provenance.get("start_model_id"), *(s.get("teacher_model_id") for s in sets)])
    names: dict[str, dict[int, Any]] = {"models": {}, "datasets": {}, "mappings": {}}
    for mid in model_ids:
        with contextlib.suppress(NotFound):
            names["models"][mid] = model_service.get_model(session, mid).name
    for did in _ids(s.get("dataset_id") for s in sets):
        with contextlib.suppress(NotFound):
            names["datasets"][did] = dataset_service.get_dataset(session, did).name
    for vid in _ids(s.get("mapping_version_id") for s in sets):
        with contextlib.suppress(NotFound):
            version = mapping_service.get_version(session, vid)
            mapping = mapping_service.get_mapping(session, version.mapping_id)
            names["mappings"][vid] = {
                "mapping_id": mapping.id,
                "name": mapping.name,
                "number": version.number,
                "hash": version.content_hash,
            }
    return names
