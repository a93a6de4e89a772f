"""A small per-process cache of domain taxonomies for the pages (web layer).

Loading a taxonomy builds ~60 ORM rows into domain objects (several ms); the editor needs the
source and target taxonomy on every edge toggle. Entries are keyed by the taxonomy row's
``(updated_at, label_count, name)``, read fresh from the database on every call, so a change made
through the services (which touch the row) is seen at once, also across processes. While a mapping
uses a taxonomy its labels cannot change except for colours, and ``recolor_label`` bumps
``updated_at``.
"""

from __future__ import annotations

import threading
from datetime import datetime

from sqlalchemy.orm import Session

from app.domain.taxonomy import Taxonomy
from app.services import taxonomies as taxonomy_service

MAX_ENTRIES = 256
_Key = tuple[datetime, int, str]
_cache: dict[int, tuple[_Key, Taxonomy]] = {}
_lock = threading.Lock()


def load_taxonomy(session: Session, taxonomy_id: int) -> Taxonomy:
    """The domain taxonomy, from the cache when the stored row has not changed."""
    row = taxonomy_service.get_taxonomy(session, taxonomy_id)
    key: _Key = (row.updated_at, row.label_count, row.name)
    with _lock:
        hit = _cache.get(taxonomy_id)
    if hit is not None and hit[0] == key:
        return hit[1]
    taxonomy = taxonomy_service.to_domain(session, row)
    with _lock:
        if len(_cache) >= MAX_ENTRIES:
            _cache.clear()
        _cache[taxonomy_id] = (key, taxonomy)
    return taxonomy
