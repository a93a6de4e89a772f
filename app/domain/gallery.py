"""Pseudo-label gallery over a run's manifest (pure layer): per-image index, filters, sorts, pages.

A run's ``manifest.jsonl`` holds one record per image. :func:`build_index` reads each record once
into a small :class:`GalleryItem` (what a gallery card shows, plus which source labels and target
classes the image contains) and counts images per label; :func:`select` filters, sorts and cuts one
page without touching any image file, so a page of a run with many thousands of images costs one
pass over the in-memory index.

Presence per image comes from the record's statistics:

* source labels: the keys of ``histogram`` (source pixel values; written when the run had ground
  truth and priors);
* target classes: ``class_pixels`` (``{target id | "void": pixels}``, recorded since the gallery
  filters), else, for older runs, the columns of ``histogram``. Runs with neither cannot be filtered
  by target class, and :func:`select` says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.domain.errors import InvalidInput

PAGE_SIZE = 12
SORTS = {"correction": "correction rate", "void": "void share", "name": "file name"}
ORDERS = {"desc": "highest first", "asc": "lowest first"}
DEFAULT_SORT, DEFAULT_ORDER = "correction", "desc"
_DISPLAY_KEYS = ("image", "label", "output", "status", "files", "warnings", "error", "error_type")


@dataclass(frozen=True, slots=True)
class GalleryItem:
    """One image of the run: what its card shows and what it contains.

    Attributes:
        position: the record's place in the manifest (dataset order; the last tie-breaker).
        record: the display fields of the manifest record (image, label, output, status, files, ...).
        correction_rate / void_fraction: None for failed or never-labelled images.
        sources: source pixel values present in the ground truth, or None when not recorded.
        targets: target class ids present in the pseudo-label (void excluded), or None.
    """

    position: int
    record: Mapping[str, Any]
    correction_rate: float | None
    void_fraction: float | None
    sources: frozenset[int] | None
    targets: frozenset[int] | None

    @property
    def image(self) -> str:
        return str(self.record.get("image", ""))

    @property
    def ok(self) -> bool:
        return bool(self.record.get("status", "ok") == "ok")


@dataclass(frozen=True, slots=True)
class GalleryIndex:
    """Every image of a run, in manifest order, with image counts per source value / target id."""

    items: tuple[GalleryItem, ...]
    source_counts: Mapping[int, int] = field(default_factory=dict)
    target_counts: Mapping[int, int] = field(default_factory=dict)

    @property
    def has_sources(self) -> bool:
        """Whether any image recorded its source labels (runs with ground truth and priors)."""
        return any(it.sources is not None for it in self.items)

    @property
    def has_targets(self) -> bool:
        return any(it.targets is not None for it in self.items)


@dataclass(frozen=True, slots=True)
class GalleryQuery:
    """Filters (a source pixel value, a target class id, a set of image paths), sort key, order and
    1-based page. ``images`` (e.g. those with one review decision) keeps only those images."""

    source: int | None = None
    target: int | None = None
    sort: str = DEFAULT_SORT
    order: str = DEFAULT_ORDER
    page: int = 1
    images: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class GalleryPage:
    items: tuple[GalleryItem, ...]
    total: int  # images matching the filters
    page: int  # the page shown (clamped to 1..pages)
    pages: int
    offset: int  # of the first item shown, in the filtered and sorted list


def _int_keys(keys: Iterable[str]) -> frozenset[int]:
    return frozenset(int(k) for k in keys if k.lstrip("-").isdigit())


def _metric(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return float(value) if isinstance(value, int | float) else None


def index_item(position: int, record: Mapping[str, Any]) -> GalleryItem:
    """The gallery's view of one manifest record (old records without the newer fields included)."""
    ok = record.get("status", "ok") == "ok"
    histogram = record.get("histogram")
    sources = targets = None
    if isinstance(histogram, dict):
        sources = _int_keys(k for k, row in histogram.items() if row)
        targets = _int_keys(t for row in histogram.values() if isinstance(row, dict) for t in row)
    class_pixels = record.get("class_pixels")
    if isinstance(class_pixels, dict):
        targets = _int_keys(k for k, n in class_pixels.items() if n)
    return GalleryItem(
        position=position,
        record={k: record[k] for k in _DISPLAY_KEYS if k in record},
        correction_rate=_metric(record, "correction_rate") if ok else None,
        void_fraction=_metric(record, "void_fraction") if ok else None,
        sources=sources if ok else None,
        targets=targets if ok else None,
    )


def build_index(records: Iterable[Mapping[str, Any]]) -> GalleryIndex:
    """Index manifest records (in order) and count the images containing each label."""
    items = tuple(index_item(i, r) for i, r in enumerate(records))
    sources: Counter[int] = Counter()
    targets: Counter[int] = Counter()
    for it in items:
        sources.update(it.sources or ())
        targets.update(it.targets or ())
    return GalleryIndex(items, dict(sources), dict(targets))


def check_sort(sort: str, order: str) -> None:
    """Raise InvalidInput naming the choices when ``sort`` or ``order`` is not one of them."""
    if sort not in SORTS:
        choices = ", ".join(f"{k!r} ({v})" for k, v in SORTS.items())
        raise InvalidInput(f"cannot sort by {sort!r}: choose one of {choices}", field="sort")
    if order not in ORDERS:
        raise InvalidInput(f"order must be 'desc' or 'asc', not {order!r}", field="order")


def _sort_key(sort: str, descending: bool) -> Any:
    """Failed and unlabelled images have no metric: first from the worst end, last from the best."""

    def by_metric(it: GalleryItem) -> tuple[int, float, int]:
        value = it.correction_rate if sort == "correction" else it.void_fraction
        if value is None:
            missing_rank = 0 if descending else 2
            status_rank = 0 if it.record.get("status") == "error" else 1
            return missing_rank, float(status_rank), it.position
        return 1, -value if descending else value, it.position

    def by_name(it: GalleryItem) -> tuple[str, int]:
        return it.image, it.position

    return by_name if sort == "name" else by_metric


def select(index: GalleryIndex, query: GalleryQuery, page_size: int = PAGE_SIZE) -> GalleryPage:
    """The images matching ``query``'s filters, sorted, and the page asked for (clamped to the last).

    Raises:
        InvalidInput: unknown sort/order, or a filter the run did not record the data for.
    """
    check_sort(query.sort, query.order)
    if query.source is not None and not index.has_sources:
        raise InvalidInput(
            "this run recorded no source labels per image (it had no ground truth or no priors), "
            "so it cannot be filtered by source label",
            field="source",
        )
    if query.target is not None and not index.has_targets:
        raise InvalidInput(
            "this run recorded no target classes per image (made before the gallery's filters), "
            "so it cannot be filtered by target class; run it again to filter",
            field="target",
        )
    chosen = [
        it
        for it in index.items
        if (query.source is None or (it.sources is not None and query.source in it.sources))
        and (query.target is None or (it.targets is not None and query.target in it.targets))
        and (query.images is None or it.image in query.images)
    ]
    if query.sort == "name":
        chosen.sort(key=_sort_key("name", False), reverse=query.order == "desc")
    else:
        chosen.sort(key=_sort_key(query.sort, query.order == "desc"))
    pages = max(1, -(-len(chosen) // page_size))
    page = min(max(1, query.page), pages)
    offset = (page - 1) * page_size
    return GalleryPage(tuple(chosen[offset : offset + page_size]), len(chosen), page, pages, offset)
