"""The review page's gallery (web layer): filters from the URL, cards, pager and shareable URLs.

The URL carries the whole state (``?source=road&target=car&review=flagged&sort=void&page=3``):
names, not ids, so that a link reads well and survives a re-import of the taxonomies. Unknown names and
choices become a message next to the filters (status 422), never a server error. Each card carries
its image's review state (accepted / rejected / flagged / unreviewed, see
:mod:`app.services.image_reviews`); the ``review`` filter keeps the images in one state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from app.db.models_registry import Job
from app.domain.errors import DomainError, InvalidInput
from app.domain.gallery import (
    DEFAULT_ORDER,
    DEFAULT_SORT,
    ORDERS,
    SORTS,
    GalleryIndex,
    GalleryItem,
    GalleryPage,
    GalleryQuery,
    check_sort,
    select,
)
from app.domain.image_review import STATES, UNREVIEWED, count_states
from app.domain.taxonomy import Taxonomy
from app.services import image_reviews, job_gallery
from app.services import jobs as job_service

NOT_LABELLED = "its shard failed or was cancelled before this image was labelled"


@dataclass(frozen=True, slots=True)
class GalleryFilters:
    """The gallery state as the URL spells it (names); ``page`` is 1-based."""

    source: str = ""
    target: str = ""
    sort: str = DEFAULT_SORT
    order: str = DEFAULT_ORDER
    page: int = 1
    review: str = ""

    def params(self, **changes: Any) -> dict[str, str]:
        """Query parameters without the defaults (short shareable URLs); ``changes`` override."""
        values = {
            "source": self.source,
            "target": self.target,
            "sort": self.sort,
            "order": self.order,
            "page": str(self.page),
            "review": self.review,
        } | {k: str(v) for k, v in changes.items()}
        defaults = {
            "source": "",
            "target": "",
            "sort": DEFAULT_SORT,
            "order": DEFAULT_ORDER,
            "page": "1",
            "review": "",
        }
        return {k: v for k, v in values.items() if v != defaults[k]}

    def url(self, job_id: int, **changes: Any) -> str:
        query = urlencode(self.params(**changes))
        return f"/jobs/{job_id}/review" + (f"?{query}" if query else "")


@dataclass(slots=True)
class GalleryView:
    """Everything ``jobs/_gallery.html`` and the filter form need."""

    filters: GalleryFilters
    errors: dict[str, str] = field(default_factory=dict)
    entries: list[dict[str, Any]] = field(default_factory=list)
    run_total: int = 0  # images in the manifest
    total: int = 0  # of them matching the filters
    page: int = 1
    pages: int = 1
    offset: int = 0
    source_options: list[tuple[str, int]] = field(default_factory=list)  # (name, images)
    target_options: list[tuple[str, int]] = field(default_factory=list)
    has_sources: bool = True
    has_targets: bool = True
    review_counts: dict[str, int] = field(default_factory=dict)  # images per review state
    missing_manifest: str | None = None
    sorts: dict[str, str] = field(default_factory=lambda: dict(SORTS))
    orders: dict[str, str] = field(default_factory=lambda: dict(ORDERS))

    @property
    def ok(self) -> bool:
        return not self.errors and self.missing_manifest is None


def _resolve(
    filters: GalleryFilters, source: Taxonomy, target: Taxonomy
) -> tuple[GalleryQuery, dict[str, str]]:
    """Names -> pixel value / class id; every problem at once, keyed by field."""
    errors: dict[str, str] = {}
    source_value = target_id = None
    if filters.source:
        if filters.source in source.names:
            source_value = source.label_by_name(filters.source).value
        else:
            errors["source"] = f"no source label {filters.source!r} in taxonomy {source.name!r}"
    if filters.target:
        if filters.target in target.names:
            target_id = target.label_by_name(filters.target).value
        else:
            errors["target"] = f"no target class {filters.target!r} in taxonomy {target.name!r}"
    if filters.review and filters.review not in STATES:
        errors["review"] = f"review must be one of {', '.join(STATES)}, not {filters.review!r}"
    try:
        check_sort(filters.sort, filters.order)
    except InvalidInput as exc:
        errors[exc.field or "sort"] = exc.message
    sort = filters.sort if "sort" not in errors else DEFAULT_SORT
    order = filters.order if "order" not in errors else DEFAULT_ORDER
    return GalleryQuery(source_value, target_id, sort, order, filters.page), errors


def _has_output(session: Session, job: Job, relpath: str) -> bool:
    try:
        job_service.artifact_path(session, job.id, relpath)
    except DomainError:
        return False
    return True


def _review(state: image_reviews.ImageState | None) -> dict[str, Any]:
    """A card's review fields: state, stale, stored version and note (for the large view)."""
    if state is None:
        return {"review": UNREVIEWED, "stale": False, "review_version": 0, "review_note": ""}
    row = state.row
    return {
        "review": state.state,
        "stale": state.stale,
        "review_version": row.version if row else 0,
        "review_note": (row.note or "") if row and not state.stale else "",
    }


def _card(
    session: Session,
    job: Job,
    item: GalleryItem,
    number: int,
    state: image_reviews.ImageState | None = None,
) -> dict[str, Any]:
    r = (
        dict(item.record)
        | {
            "number": number,
            "correction_rate": item.correction_rate,
            "void_fraction": item.void_fraction,
        }
        | _review(state)
    )
    if item.record.get("status") == "error":
        return r | {"error_type": r.get("error_type") or "failed", "error": r.get("error", "")}
    if not item.ok:  # its shard failed or was cancelled before reaching it
        return r | {"error_type": "not labelled", "error": NOT_LABELLED}
    output = str(r.get("output", ""))
    teacher = f"teacher/{output}"
    # ``files`` lists what the run wrote; records without it (older runs) cost one look-up per card
    written = teacher in r["files"] if "files" in r else _has_output(session, job, teacher)
    return r | {"pseudo": f"labels/{output}", "teacher": teacher if written else None}


def _options(taxonomy: Taxonomy, counts: dict[int, int] | Any) -> list[tuple[str, int]]:
    return [(lb.name, int(counts.get(lb.value, 0))) for lb in taxonomy.labels if lb.value >= 0]


def build_gallery(
    session: Session, job: Job, filters: GalleryFilters, source: Taxonomy, target: Taxonomy
) -> GalleryView:
    """Resolve the filters, read the (cached) manifest index and cut the page asked for."""
    view = GalleryView(filters)
    query, view.errors = _resolve(filters, source, target)
    try:
        index: GalleryIndex = job_gallery.manifest_index(session, job.id)
    except DomainError as exc:
        view.missing_manifest = exc.message
        return view
    view.has_sources, view.has_targets = index.has_sources, index.has_targets
    view.run_total = len(index.items)
    view.source_options = _options(source, index.source_counts)
    view.target_options = _options(target, index.target_counts)
    states = {s.image: s for s in image_reviews.image_states(session, job.id)}
    view.review_counts = count_states(s.state for s in states.values())
    if view.errors:
        return view
    if filters.review:
        chosen = frozenset(image for image, s in states.items() if s.state == filters.review)
        query = dataclasses.replace(query, images=chosen)
    try:
        page: GalleryPage = select(index, query)
    except InvalidInput as exc:
        view.errors[exc.field or "source"] = exc.message
        return view
    view.total, view.page, view.pages, view.offset = page.total, page.page, page.pages, page.offset
    view.entries = [
        _card(session, job, it, page.offset + i + 1, states.get(it.image)) for i, it in enumerate(page.items)
    ]
    if view.page != filters.page:  # e.g. ?page=99 of 4: show (and link) the last page
        view.filters = dataclasses.replace(filters, page=view.page)
    return view
