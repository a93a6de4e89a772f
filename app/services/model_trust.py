"""Pickle trust of paper ``.pth`` models (services layer): an admin's recorded decision, checked on use.

A paper ``.pth`` is a pickle, and unpickling can run any code. So:

* registering one (editors may) grants no trust: the model is ``untrusted`` and every job that
  would use it is refused, at submission (:func:`usable_spec`) and again by the worker;
* an admin trusts it (:func:`trust_model`): who, when and the file's sha256 are recorded, and the
  worker task ``unilabel.convert_model`` converts the file once into safetensors weights;
* jobs load only those converted weights, after checking that the file still has the trusted hash.
  A changed file loses the trust (compare-and-set) until an admin trusts it again.

Hugging Face folders need no trust when their weights are safetensors; a folder with only pickle
weights (``pytorch_model.bin``) is refused: convert it with ``unilabel model convert``.
The hash is streamed (:mod:`app.domain.hashing`): no torch, nothing unpickled here.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.db import repositories_registry as repo
from app.db.base import utcnow
from app.db.models import User
from app.db.models_registry import Model
from app.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.domain.hashing import sha256_of_file
from app.queue import TASK_CONVERT_MODEL, enqueue_after_commit
from app.services.users import has_role

logger = logging.getLogger(__name__)

PENDING, DONE, FAILED, REVOKED = "pending", "done", "failed", "revoked"
PICKLE_WEIGHT_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".pkl"})
_HASH_CACHE_SIZE = 64
_hashes: OrderedDict[tuple[object, ...], str] = OrderedDict()
_hashes_lock = threading.Lock()


def _stat_key(path: Path) -> tuple[object, ...]:
    # ctime cannot be set from user space: a rewrite keeping size and mtime still changes the key.
    st = path.stat()
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_sha256(path: Path) -> str:
    """The sha256 of ``path``'s bytes, streamed (cached per process while the file is unchanged)."""
    key = _stat_key(path)
    with _hashes_lock:
        cached = _hashes.get(key)
    if cached is not None:
        return cached
    value = sha256_of_file(path)
    if _stat_key(path) == key:  # not written to while it was read
        with _hashes_lock:
            _hashes[key] = value
            while len(_hashes) > _HASH_CACHE_SIZE:
                _hashes.popitem(last=False)
    return value


def pickle_only_folder(folder: Path) -> bool:
    """True when ``folder`` holds pickle weight files but no ``*.safetensors``."""
    files = [p.suffix for p in folder.iterdir() if p.is_file()]
    return ".safetensors" not in files and any(s in PICKLE_WEIGHT_SUFFIXES for s in files)


def trust_status(row: Model) -> str:
    """not_needed | untrusted | revoked | converting | ready | failed."""
    if row.source != "paper_pth":
        return "not_needed"
    if row.trusted_sha256 is None:
        return "revoked" if row.conversion_status == REVOKED else "untrusted"
    return {DONE: "ready", FAILED: "failed"}.get(row.conversion_status or "", "converting")


def require_admin(user: User | None, *, field: str = "trust_pickle") -> User:
    """Refuse anyone but an active admin: trusting a pickle lets the workers run its code."""
    if user is None or not has_role(user, "admin"):
        raise PermissionDenied(
            "trusting a pickle (.pth) lets workers run its code: only an admin may decide it",
            field=field,
        )
    return user


def record_trust(session: Session, row: Model, *, user: User, note: str = "") -> Model:
    """Record ``user``'s trust in the file as it is now, and queue its one-time conversion."""
    require_admin(user)
    if row.source != "paper_pth":
        raise InvalidInput(
            f"model {row.name!r} is a {row.source}, not a paper .pth: only pickles need trust",
            field="trust_pickle",
        )
    path = Path(row.spec)
    if not path.is_file():
        raise InvalidInput(f"model file {row.spec!r} no longer exists", field="model_id")
    digest = file_sha256(path)
    converted = row.converted_path is not None and Path(row.converted_path).is_dir()
    if row.trusted_sha256 == digest and row.conversion_status == DONE and converted:
        return row  # already trusted and converted, file unchanged: nothing to do
    row.trusted_by_id, row.trusted_at, row.trusted_sha256 = user.id, utcnow(), digest
    row.trust_note = note.strip()
    row.converted_path, row.conversion_status, row.conversion_error = None, PENDING, None
    session.flush()
    enqueue_after_commit(session, TASK_CONVERT_MODEL, model_id=row.id)
    return row


def trust_model(session: Session, *, model_id: int, user: User | None, note: str = "") -> Model:
    """An admin trusts a registered paper ``.pth``: recorded (who, when, sha256), then converted."""
    admin = require_admin(user, field="model_id")
    row = repo.get_model(session, model_id)
    if row is None:
        raise NotFound(f"model {model_id} does not exist", field="model_id")
    return record_trust(session, row, user=admin, note=note)


def usable_spec(session: Session, row: Model, *, field: str = "model_id") -> str:
    """What a job may load for ``row`` (the converted folder for a ``.pth``), or a refusal.

    Called at submission and again by the worker before loading. A ``.pth`` whose bytes no longer
    have the trusted hash loses its trust here, in a transaction of its own (the refusal rolls the
    caller's back).
    """
    if row.source == "hf_id":
        return row.spec
    path = Path(row.spec)
    if not path.exists():
        raise InvalidInput(f"model files {row.spec!r} no longer exist", field=field)
    if row.source == "folder":
        if path.is_dir() and pickle_only_folder(path):
            raise InvalidInput(
                f"model folder {row.spec!r} has only pickle weights (e.g. pytorch_model.bin); convert "
                "it to safetensors (`unilabel model convert`) and register the converted folder",
                field=field,
            )
        return row.spec
    trusted = row.trusted_sha256
    if trusted is None:
        raise InvalidInput(
            f"model {row.name!r} is an untrusted pickle (.pth): an admin must trust it "
            f"(POST /api/v1/models/{row.id}/trust, or `unilabel model trust {row.id}`) before jobs use it"
            + (f" ({row.conversion_error})" if row.conversion_error else ""),
            field=field,
            details={"trust_status": trust_status(row)},
        )
    found = file_sha256(path)
    if found != trusted:
        message = (
            f"{row.spec} changed since an admin trusted it (sha256 {found[:12]}… != trusted "
            f"{trusted[:12]}…); the trust is lost: an admin must trust it again"
        )
        _lose_trust(session, row.id, trusted, message)
        raise InvalidInput(f"model {row.name!r}: {message}", field=field, details={"trust_status": REVOKED})
    if row.conversion_status == PENDING:
        raise Conflict(
            f"model {row.name!r} is trusted and its weights are being converted; try again shortly",
            field=field,
            details={"trust_status": "converting"},
        )
    converted = row.converted_path
    if row.conversion_status != DONE or converted is None or not Path(converted).is_dir():
        reason = row.conversion_error or "the converted weights are missing"
        raise InvalidInput(
            f"model {row.name!r} could not be converted ({reason}); an admin can trust it again to retry",
            field=field,
            details={"trust_status": "failed"},
        )
    return converted


def revoked_values(message: str) -> dict[str, Any]:
    """The trust columns of a model whose file changed since an admin trusted it (trust lost)."""
    return {
        "trusted_by_id": None,
        "trusted_at": None,
        "trusted_sha256": None,
        "converted_path": None,
        "conversion_status": REVOKED,
        "conversion_error": message,
    }


def _lose_trust(session: Session, model_id: int, trusted_sha256: str, message: str) -> None:
    """Mark the row untrusted (compare-and-set on the trusted hash), committed on its own.

    If this write fails the refusal still stands: every use re-hashes the file.
    """
    try:
        with Session(bind=session.get_bind()) as own:
            repo.update_model_trust(own, model_id, expected_sha256=trusted_sha256, **revoked_values(message))
            own.commit()
    except SQLAlchemyError:
        logger.exception("could not record the lost trust of model %s", model_id)
