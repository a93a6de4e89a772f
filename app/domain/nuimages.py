"""nuImages tables to per-image paint lists (pure domain layer; the masks are decoded by the worker).

nuImages publishes no label file per image: each release folder ``v1.0-<split>/`` holds JSON
tables, and ``sample_data.json`` names the image files (``filename``, relative to the root) of
every annotated key frame. ``surface_ann.json`` and ``object_ann.json`` give per image
(``sample_data_token``) a category (``category_token`` into ``category.json``) and a mask
``{"size": [h, w], "counts": <base64 of COCO compressed RLE>}`` or ``null``.

:func:`paint_order` is the devkit's ``NuImages.get_segmentation``: a background canvas, then the
surfaces (``flat.driveable_surface``, ``vehicle.ego``) in table order, then the objects sorted by
their token, each painting its category over what is there; an annotation without a mask is
skipped. The devkit draws ``vehicle.ego`` too (its index 31), and the reference list has ``ego``;
so it is drawn as whatever value the taxonomy gives it.

:func:`category_values` resolves a devkit category name through a taxonomy: the full name
(``vehicle.bus.rigid``), else its last part with ``_`` read as a space (``rigid``,
``driveable surface``: how the reference ``nuimages/labels.csv`` spells them), else that part
ignoring case, spaces and punctuation when exactly one label matches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.domain.errors import InvalidInput
from app.domain.taxonomy import Taxonomy

TABLES = ("category", "sample_data", "surface_ann", "object_ann")
SPLIT_ORDER = ("train", "val", "test")


@dataclass(frozen=True, slots=True)
class Annotation:
    """One surface or object annotation: its token, category token and RLE mask (None: no mask)."""

    token: str
    category: str
    mask: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class Frame:
    """An annotated image: its sample_data token and size, its surfaces and objects (table order)."""

    token: str
    width: int
    height: int
    surfaces: tuple[Annotation, ...] = ()
    objects: tuple[Annotation, ...] = ()


@dataclass(frozen=True, slots=True)
class Release:
    """One ``v1.0-<split>`` folder: category token -> name, and image filename -> frame."""

    categories: dict[str, str]
    frames: dict[str, Frame]


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, field="label")


def parse_table(text: str, name: str) -> list[dict[str, Any]]:
    """A nuImages table: a JSON list of objects, each with a string ``token``.

    Raises:
        InvalidInput: not JSON, not a list, or a record without a token.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"{name}.json is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise _bad(f"{name}.json is not a nuImages table: the top level is not a list")
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or not isinstance(rec.get("token"), str):
            raise _bad(f"{name}.json: record {i} has no token")
    return data


def _str(rec: Mapping[str, Any], key: str, where: str) -> str:
    value = rec.get(key)
    if not isinstance(value, str):
        raise _bad(f"{where}: {key} is {value!r}, not a string")
    return value


def _mask(rec: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    mask = rec.get("mask")
    if mask is None:
        return None
    size = mask.get("size") if isinstance(mask, dict) else None
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
        or not isinstance(mask.get("counts"), str)
    ):
        raise _bad(f"{where}: mask is not {{'size': [h, w], 'counts': <base64 RLE>}}")
    return dict(mask)


def _annotations(table: Iterable[dict[str, Any]], name: str) -> dict[str, list[Annotation]]:
    by_frame: dict[str, list[Annotation]] = {}
    for i, rec in enumerate(table):
        where = f"{name}.json record {i}"
        ann = Annotation(rec["token"], _str(rec, "category_token", where), _mask(rec, where))
        by_frame.setdefault(_str(rec, "sample_data_token", where), []).append(ann)
    return by_frame


def _size(rec: Mapping[str, Any], key: str, where: str) -> int:
    value = rec.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _bad(f"{where}: {key} is {value!r}, not a positive integer")
    return value


def build_release(tables: Mapping[str, list[dict[str, Any]]]) -> Release:
    """Index the four tables of one release folder (see :data:`TABLES`) by image filename.

    Raises:
        InvalidInput: a record lacks a field the conversion needs.
    """
    categories = {
        rec["token"]: _str(rec, "name", f"category.json record {i}")
        for i, rec in enumerate(tables["category"])
    }
    surfaces = _annotations(tables["surface_ann"], "surface_ann")
    objects = _annotations(tables["object_ann"], "object_ann")
    frames: dict[str, Frame] = {}
    for i, rec in enumerate(tables["sample_data"]):
        where = f"sample_data.json record {i}"
        token = rec["token"]
        frames[_str(rec, "filename", where)] = Frame(
            token,
            _size(rec, "width", where),
            _size(rec, "height", where),
            tuple(surfaces.get(token, ())),
            tuple(objects.get(token, ())),
        )
    return Release(categories, frames)


def paint_order(frame: Frame) -> tuple[Annotation, ...]:
    """The devkit's drawing order: surfaces in table order, then objects sorted by token."""
    return frame.surfaces + tuple(sorted(frame.objects, key=lambda a: a.token))


def _loose(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def category_values(
    categories: Mapping[str, str], taxonomy: Taxonomy
) -> tuple[dict[str, int], tuple[str, ...]]:
    """Category token -> taxonomy value, and the category names the taxonomy lacks (sorted)."""
    loose: dict[str, set[int]] = {}
    for label in taxonomy.labels:
        if label.value >= 0:
            loose.setdefault(_loose(label.name), set()).add(label.value)
    values: dict[str, int] = {}
    unknown: set[str] = set()
    for token, name in categories.items():
        short = name.rsplit(".", 1)[-1].replace("_", " ")
        for candidate in (name, short):
            if taxonomy.has_name(candidate) and taxonomy.label_by_name(candidate).value >= 0:
                values[token] = taxonomy.label_by_name(candidate).value
                break
        else:
            matches = loose.get(_loose(short), set())
            if len(matches) == 1:
                values[token] = next(iter(matches))
            else:
                unknown.add(name)
    return values, tuple(sorted(unknown))


def release_split(release: str) -> str:
    """The split a release folder holds: ``v1.0-train`` -> ``train``, ``v1.0-mini`` -> ``mini``."""
    return release.split("-", 1)[1] if "-" in release else release


def splits_from_records(text: str) -> dict[str, str]:
    """Image -> split, from a conversion's records (``native`` image, ``release`` folder per line);
    lines that are not such a record (a torn last line) are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(rec, dict)
            and isinstance(rec.get("native"), str)
            and isinstance(rec.get("release"), str)
        ):
            out[rec["native"]] = release_split(rec["release"])
    return out


def ordered_splits(splits: Iterable[str]) -> list[str]:
    """Train, val, test first, then the others (``mini``) by name."""
    found = set(splits)
    return [s for s in SPLIT_ORDER if s in found] + sorted(found - set(SPLIT_ORDER))
