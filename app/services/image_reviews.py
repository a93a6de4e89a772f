"""Per-image review of a pseudo-label run (services layer): decide, list, bulk reject, exclusions.

Images are the run's manifest records (``image`` is the key, as the dataset names it). An image's
current label hash is the sha256 of its pseudo-label PNG (``labels/<output>``), cached per file by
modification time and size, so listing the states of a run reads each label file once per change.

Writes are compare-and-set: a decision names the version it was based on (``base_version``, 0 when
the image had none); a stale base is refused with :class:`Conflict` naming the stored decision.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from sqlalchemy.orm import Session

from app.db import repositories_image_reviews as repo
from app.db.models import ImageReview, User
from app.domain.errors import Conflict, InvalidInput, NotFound
from app.domain.gallery import GalleryItem
from app.domain.hashing import sha256_of_file
from app.domain.image_review import (
    NOTE_MAX,
    REJECTED,
    BulkRule,
    StoredDecision,
    check_decision,
    is_stale,
    snapshot_hash,
    state_of,
)
from app.services import job_gallery
from app.services import jobs as job_service

_HASH_CACHE = 50_000  # label files (a few runs of ~20k images)
_lock = threading.Lock()
_hashes: OrderedDict[Path, tuple[tuple[int, int], str]] = OrderedDict()


def label_hash(path: Path) -> str | None:
    """sha256 of a label file (None when it is missing), cached by mtime and size."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _hashes.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
    digest = sha256_of_file(path)
    with _lock:
        _hashes[path] = (key, digest)
        _hashes.move_to_end(path)
        while len(_hashes) > _HASH_CACHE:
            _hashes.popitem(last=False)
    return digest


@dataclass(frozen=True, slots=True)
class ImageState:
    """One image of the run as the review sees it now."""

    image: str
    state: str  # accepted | rejected | flagged | unreviewed
    stale: bool  # a decision exists but was made on a label that has changed since
    current_hash: str | None  # None: the image has no pseudo-label (failed or never labelled)
    row: ImageReview | None
    item: GalleryItem


def _stored(row: ImageReview | None) -> StoredDecision | None:
    return None if row is None else StoredDecision(row.decision, row.label_hash, row.version)


def _run(session: Session, job_id: int) -> tuple[Path, dict[str, GalleryItem]]:
    job = job_service.get_job(session, job_id)
    if job.kind != "pseudo_label":
        raise InvalidInput(
            f"job {job.id} is a {job.kind} job; only pseudo-label runs have images to review",
            field="job_id",
        )
    root = job_service.manifest_path(session, job_id).parent
    index = job_gallery.manifest_index(session, job_id)
    return root, {it.image: it for it in index.items}


def _current_hash(root: Path, item: GalleryItem) -> str | None:
    output = item.record.get("output")
    if not item.ok or not output:
        return None
    return label_hash(root / "labels" / str(output))


def _state(root: Path, item: GalleryItem, row: ImageReview | None) -> ImageState:
    current = _current_hash(root, item)
    stored = _stored(row)
    return ImageState(item.image, state_of(stored, current), is_stale(stored, current), current, row, item)


def _updated_from(session: Session, job_id: int) -> int | None:
    """The run an update run (``update_from_job_id``) re-labelled part of, if any."""
    job = job_service.get_job(session, job_id)
    source = json.loads(job.params_json or "{}").get("update_from_job_id")
    return int(source) if source else None


def _rows(session: Session, job_id: int, *, depth: int = 0) -> dict[str, ImageReview]:
    """The run's decisions, and those it inherits from the run it updates (and so on back).

    An update run carries most images over unchanged: their decisions carry over with them. Each
    keeps the label hash it was made on, so an image whose label the update changed shows its old
    decision as stale (and it no longer excludes the image from training) until decided again.
    """
    rows = repo.reviews_of_job(session, job_id)
    source = _updated_from(session, job_id) if depth < 64 else None
    if source is not None:
        for image, row in _rows(session, source, depth=depth + 1).items():
            rows.setdefault(image, row)
    return rows


def image_states(session: Session, job_id: int) -> list[ImageState]:
    """Every image of the run (manifest order) with its review state."""
    root, items = _run(session, job_id)
    rows = _rows(session, job_id)
    return [_state(root, item, rows.get(image)) for image, item in items.items()]


def image_state(session: Session, job_id: int, image: str) -> ImageState:
    root, items = _run(session, job_id)
    item = items.get(image)
    if item is None:
        raise NotFound(f"job {job_id} has no image {image!r}", field="image")
    row = repo.get_review(session, job_id, image) or _rows(session, job_id).get(image)
    return _state(root, item, row)


def decide(
    session: Session,
    job_id: int,
    image: str,
    *,
    decision: str,
    base_version: int,
    note: str | None = None,
    author: User | None = None,
) -> ImageState:
    """Store a decision on the image's current label; compare-and-set on ``base_version``.

    Raises:
        NotFound: no such job or image. InvalidInput: bad decision/note, or the image has no
        pseudo-label. Conflict: the stored version is not ``base_version`` (someone decided since).
    """
    check_decision(decision)
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidInput(f"a note has at most {NOTE_MAX} characters", field="note")
    note = (note or "").strip() or None
    state = image_state(session, job_id, image)
    if state.current_hash is None:
        raise InvalidInput(f"image {image!r} has no pseudo-label to review (it failed)", field="image")
    values = {
        "decision": decision,
        "note": note,
        "label_hash": state.current_hash,
        "author_id": author.id if author else None,
    }
    row = state.row
    inherited = row is not None and row.job_id != job_id and base_version == row.version
    if (base_version == 0 and row is None) or inherited:
        # A first decision, or a change of one inherited from the updated run (made here, kept there).
        stored = repo.insert_review(session, job_id=job_id, image=image, **values)
    else:
        ok = repo.update_review(session, job_id, image, expected_version=base_version, **values)
        stored = repo.get_review(session, job_id, image) if ok else None
    if stored is None:
        _conflict(session, job_id, image, base_version)
    session.refresh(stored)
    return _state(job_service.manifest_path(session, job_id).parent, state.item, stored)


def _conflict(session: Session, job_id: int, image: str, base_version: int) -> NoReturn:
    session.expire_all()
    row = repo.get_review(session, job_id, image)
    now = f"it is {row.decision} at version {row.version}" if row else "it has no decision"
    raise Conflict(
        f"the decision on {image!r} changed since version {base_version}: {now}; reload and decide again",
        field="base_version",
        details={"version": row.version if row else 0, "decision": row.decision if row else None},
    )


@dataclass(frozen=True, slots=True)
class BulkResult:
    matched: int  # images the rule selects
    rejected: list[str]  # of them, those without a current decision: rejected (or, dry run, to be)
    kept: int  # matched images already decided by a person: left as they are
    changed_meanwhile: int = 0  # decided by someone else while this ran (left as they are)


def bulk_reject(
    session: Session, job_id: int, rule: BulkRule, *, dry_run: bool, author: User | None = None
) -> BulkResult:
    """Reject the run's undecided images that ``rule`` selects (dry run: only count them)."""
    states = [s for s in image_states(session, job_id) if s.current_hash is not None]
    matched = [s for s in states if rule.matches(s.item.correction_rate, s.item.void_fraction)]
    todo = [s for s in matched if s.state == "unreviewed"]
    kept = len(matched) - len(todo)
    if dry_run:
        return BulkResult(len(matched), [s.image for s in todo], kept)
    done, lost = [], 0
    note = f"bulk rule: {rule.describe()}"
    for s in todo:
        values = {
            "decision": REJECTED,
            "note": note,
            "label_hash": str(s.current_hash),
            "author_id": author.id if author else None,
        }
        if s.row is None or s.row.job_id != job_id:  # none here (an inherited one stays there)
            ok = repo.insert_review(session, job_id=job_id, image=s.image, **values) is not None
        else:  # a stale decision: replaced only if nobody touched it meanwhile
            ok = repo.update_review(session, job_id, s.image, expected_version=s.row.version, **values)
        if ok:
            done.append(s.image)
        else:
            lost += 1
    return BulkResult(len(matched), done, kept, lost)


def training_exclusions(session: Session, job_id: int) -> tuple[frozenset[str], str]:
    """Images of the run currently rejected (stale decisions do not count) and the snapshot hash of
    those decisions (see :func:`app.domain.image_review.snapshot_hash`)."""
    if not _rows(session, job_id):  # nothing decided: the manifest need not be read
        return frozenset(), snapshot_hash({})
    rejected = {s.image: str(s.current_hash) for s in image_states(session, job_id) if s.state == REJECTED}
    return frozenset(rejected), snapshot_hash(rejected)
