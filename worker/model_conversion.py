"""Convert an admin-trusted paper ``.pth`` into safetensors weights, once (task adapter layer).

The body of the ``unilabel.convert_model`` task (``worker.tasks.convert_model``). This is the one
place where a registered model's pickle is unpickled, and only when the row records an admin's
trust whose sha256 equals the file's bytes (hashed while they are copied; the copy is unpickled).
Every outcome is written with a compare-and-set on the trusted hash, so a trust re-recorded or
lost meanwhile is never overwritten:

* ``done``: ``converted_path`` is ``<data_dir>/models/<id>/converted`` (a unilabel folder);
* ``failed``: ``conversion_error`` says why (not a paper checkpoint, wrong classes, …);
* ``revoked``: the file changed since the admin trusted it; the trust is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from app.db import repositories_registry as repo
from app.db.session import unit_of_work
from app.domain.errors import DomainError
from app.services import model_trust
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    spec: str
    sha256: str
    class_names: tuple[str, ...]


def converted_dir(data_dir: Path, model_id: int) -> Path:
    return data_dir / "models" / str(model_id) / "converted"


def _pending(factory: sessionmaker[Session], model_id: int) -> _Pending | None:
    with unit_of_work(factory) as s:
        row = repo.get_model(s, model_id)
        if row is None or row.source != "paper_pth" or row.trusted_sha256 is None:
            return None
        if row.conversion_status != model_trust.PENDING:
            return None  # converted already (a duplicate message), failed, or revoked
        names = taxonomy_service.load_taxonomy(s, row.taxonomy_id).names
        return _Pending(row.spec, row.trusted_sha256, tuple(names))


def _record(factory: sessionmaker[Session], model_id: int, sha256: str, **values: object) -> bool:
    with unit_of_work(factory) as s:
        return repo.update_model_trust(
            s, model_id, expected_sha256=sha256, expected_status=model_trust.PENDING, **values
        )


def convert_model(model_id: int, *, factory: sessionmaker[Session], data_dir: Path) -> str:
    """Convert model ``model_id`` if its trust is recorded and pending; returns the outcome
    (``done``, ``failed``, ``revoked`` or ``skipped``)."""
    from worker.ml.checkpoints import ChecksumMismatch, convert_trusted_pth

    pending = _pending(factory, model_id)
    if pending is None:
        return "skipped"
    out = converted_dir(data_dir, model_id)
    try:
        loaded = convert_trusted_pth(Path(pending.spec), out, expected_sha256=pending.sha256)
        model_service.check_classes(loaded.class_names, pending.class_names)
    except ChecksumMismatch as exc:
        message = f"{exc.message}; the trust is lost: an admin must trust it again"
        _record(factory, model_id, pending.sha256, **model_trust.revoked_values(message))
        logger.warning("model %s: %s", model_id, message)
        return "revoked"
    except Exception as exc:  # a trusted file can still be broken: record why, never stay pending
        text = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        failed = {"conversion_status": model_trust.FAILED, "conversion_error": text[:2000]}
        _record(factory, model_id, pending.sha256, **failed)
        logger.warning("model %s: conversion failed: %s", model_id, text, exc_info=True)
        return "failed"
    if not _record(
        factory, model_id, pending.sha256, conversion_status=model_trust.DONE, converted_path=str(out)
    ):
        return "skipped"  # the trust changed while converting; that decision's own task takes over
    logger.info("model %s: converted %s into %s", model_id, pending.spec, out)
    return "done"
