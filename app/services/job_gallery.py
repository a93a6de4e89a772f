"""The pseudo-label gallery of a job (services layer): its manifest indexed once, cached by mtime.

A gallery request filters and sorts the per-image records of ``manifest.jsonl``; reading and parsing
that file for every page of a run with thousands of images would dominate the request, so the
parsed index (:class:`app.domain.gallery.GalleryIndex`, display fields only) is kept per manifest
file and rebuilt only when the file's modification time or size changes (a resumed or re-run job
rewrites it). No image file is read here.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.domain.gallery import GalleryIndex, build_index
from app.services import jobs as job_service

CACHED_MANIFESTS = 4  # a few jobs reviewed at once; each index is a few MB for ~20k images

_lock = threading.Lock()
_cache: OrderedDict[Path, tuple[tuple[int, int], GalleryIndex]] = OrderedDict()


def _records(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:  # a torn line of a manifest being written: skip it
                continue
    return records


def manifest_index(session: Session, job_id: int) -> GalleryIndex:
    """The gallery index of the job's merged manifest (raises NotFound when there is none yet)."""
    path = job_service.manifest_path(session, job_id)
    stat = path.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == key:
            _cache.move_to_end(path)
            return hit[1]
    index = build_index(_records(path))  # outside the lock: other jobs' pages need not wait
    with _lock:
        _cache[path] = (key, index)
        _cache.move_to_end(path)
        while len(_cache) > CACHED_MANIFESTS:
            _cache.popitem(last=False)
    return index
