"""Model (teacher/student) registration (services layer); no weights are loaded here.

Checks that need no torch run now: the path is inside the allowed data roots, the files exist, and
for folders the class list in ``config.json`` (``id2label``) or ``unilabel.json`` (``class_names``)
equals the target taxonomy's classes — a mismatch is refused with both lists. A paper ``.pth`` can
only be opened by torch, so its classes are checked by the worker when a job loads it.

A ``.pth`` is a pickle: registering one grants no trust (see :mod:`app.services.model_trust`).
``trust_pickle: true`` is an admin's decision, checked before anything else in the request.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.db import repositories_registry as repo
from app.db.models import User
from app.db.models_registry import Model
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.schemas.models import ModelCreate
from app.services import model_trust
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from app.services.datasets import resolve_inside_roots
from app.services.pth_classes import pth_class_names

HF_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")


def folder_class_names(folder: Path) -> tuple[str, ...] | None:
    """The class names recorded in a model folder (unilabel metadata first, then HF ``config.json``)."""
    meta = folder / "unilabel.json"
    if meta.is_file():
        return tuple(str(n) for n in json.loads(meta.read_text(encoding="utf-8"))["class_names"])
    config = folder / "config.json"
    if config.is_file():
        id2label = json.loads(config.read_text(encoding="utf-8")).get("id2label") or {}
        return tuple(str(id2label[k]) for k in sorted(id2label, key=int))
    return None


def _weights_checksum(folder: Path) -> str | None:
    """sha256 over the weight files' sizes and mtimes (cheap identity; the worker hashes contents)."""
    files = sorted(p for p in folder.iterdir() if p.suffix in {".safetensors", ".bin"})
    if not files:
        return None
    digest = hashlib.sha256()
    for p in files:
        st = p.stat()
        digest.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return digest.hexdigest()


def _check_source(body: ModelCreate, settings: Settings) -> tuple[str, str | None, tuple[str, ...] | None]:
    """(normalised spec, checksum, class names found) for the model source."""
    if body.source == "hf_id":
        if not set(body.spec) <= HF_ID_CHARS or body.spec.startswith(("/", ".")) or body.spec.count("/") > 1:
            raise InvalidInput(f"{body.spec!r} is not a Hugging Face model id (owner/name)", field="spec")
        return body.spec, None, None
    path = resolve_inside_roots(body.spec, settings, field="spec")
    if body.source == "folder":
        if not path.is_dir():
            raise InvalidInput(f"model folder {body.spec!r} does not exist", field="spec")
        if not (path / "config.json").is_file():
            raise InvalidInput(f"{body.spec!r} has no config.json: not a model folder", field="spec")
        if model_trust.pickle_only_folder(path):
            raise InvalidInput(
                f"{body.spec!r} has only pickle weights (e.g. pytorch_model.bin), which jobs do not "
                "load; convert it to safetensors (`unilabel model convert`) and register that folder",
                field="spec",
            )
        return str(path), _weights_checksum(path), folder_class_names(path)
    if not path.is_file() or path.suffix not in {".pth", ".pt"}:
        raise InvalidInput(f"{body.spec!r} is not an existing .pth/.pt file", field="spec")
    # Read torch-free from the pickle's allow-listed config; None (checked when a job loads the
    # model) for legacy archives and pickles that need more than the allow-list.
    return str(path), None, pth_class_names(path)


def check_classes(found: tuple[str, ...], expected: tuple[str, ...]) -> None:
    """Raise InvalidInput showing both lists when the model's classes differ from the taxonomy's."""
    if tuple(found) != tuple(expected):
        raise InvalidInput(
            f"the model's classes ({len(found)}) do not match the target taxonomy's ({len(expected)})",
            field="taxonomy_id",
            details={"model_classes": list(found), "taxonomy_classes": list(expected)},
        )


def register_model(
    session: Session,
    *,
    body: ModelCreate,
    settings: Settings,
    user: User | None = None,
) -> Model:
    """Validate and insert a model row created by ``user`` (None: a script or the system);
    ``trust_pickle`` (admins only) also records their trust."""
    if body.trust_pickle:  # who may, before what was sent
        model_trust.require_admin(user)
        if body.source != "paper_pth":
            raise InvalidInput("trust_pickle applies to paper .pth files only", field="trust_pickle")
    name = body.name.strip()
    if repo.get_model_by_name(session, name) is not None:
        raise Conflict(f"a model named {name!r} already exists", field="name")
    target = taxonomy_service.load_taxonomy(session, body.taxonomy_id)
    if not target.is_class_list():
        raise InvalidInput(f"taxonomy {target.name!r} is not a class list 0..N-1", field="taxonomy_id")
    spec, checksum, classes = _check_source(body, settings)
    if classes is not None:
        check_classes(classes, target.names)
    row = Model(
        name=name,
        description=body.description,
        role=body.role,
        source=body.source,
        spec=spec,
        taxonomy_id=body.taxonomy_id,
        checksum=checksum,
        normalization_json=body.normalization.model_dump_json() if body.normalization else None,
        provenance_json=json.dumps({"classes_checked": classes is not None}),
        created_by_id=user.id if user is not None else None,
    )
    session.add(row)
    session.flush()
    if body.trust_pickle and user is not None:
        model_trust.record_trust(session, row, user=user, note="trusted at registration")
    return row


def get_model(session: Session, model_id: int) -> Model:
    row = repo.get_model(session, model_id)
    if row is None:
        raise NotFound(f"model {model_id} does not exist", field="model_id")
    return row


def list_models(session: Session, *, limit: int = 50, offset: int = 0) -> tuple[list[Model], int]:
    return repo.page_models(session, limit=limit, offset=offset)


def delete_model(session: Session, model_id: int) -> None:
    session.delete(get_model(session, model_id))
    session.flush()


def model_payloads(session: Session, rows: list[Model]) -> list[dict[str, Any]]:
    """``model_payload`` of each row, with the names of the admins who trusted them."""
    names = user_service.user_names(session, [r.trusted_by_id for r in rows])
    return [model_payload(r, trusted_by=names.get(r.trusted_by_id or 0)) for r in rows]


def model_payload(row: Model, *, trusted_by: str | None = None) -> dict[str, Any]:
    """The fields of ``ModelRead`` (JSON columns decoded, the trust state derived)."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "role": row.role,
        "source": row.source,
        "spec": row.spec,
        "taxonomy_id": row.taxonomy_id,
        "normalization": json.loads(row.normalization_json) if row.normalization_json else None,
        "provenance": json.loads(row.provenance_json or "{}"),
        "trust_pickle": row.trusted_sha256 is not None,
        "trust_status": model_trust.trust_status(row),
        "trusted_by_id": row.trusted_by_id,
        "trusted_by": trusted_by,
        "trusted_at": row.trusted_at,
        "trusted_sha256": row.trusted_sha256,
        "trust_note": row.trust_note or "",
        "converted_path": row.converted_path,
        "conversion_error": row.conversion_error,
        "checksum": row.checksum,
        "created_at": row.created_at,
    }


def usable_spec(session: Session, row: Model, *, field: str = "model_id") -> str:
    """What a job may load for ``row``, or a refusal naming ``field`` (missing files, untrusted or
    changed pickle, pickle-only folder); see :func:`app.services.model_trust.usable_spec`."""
    return model_trust.usable_spec(session, row, field=field)


def model_exists_on_disk(row: Model) -> bool:
    return row.source == "hf_id" or os.path.exists(row.spec)
