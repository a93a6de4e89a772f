"""Native label formats converted once into label-id PNGs: parsing and decoding (pure domain layer).

Three converters (keys of :data:`app.domain.dataset_presets.CONVERTERS`):

``cityscapes-polygons``
    Cityscapes-style polygon JSON (``imgHeight``, ``imgWidth``, ``objects`` of ``{label,
    polygon}``), as Cityscapes, IDD and WildDash 1 publish it. :func:`parse_polygons` resolves each
    object's label *name* through the taxonomy the way cityscapesScripts' ``json2labelImg`` does:
    objects with ``deleted`` set are skipped; an unknown name ending in ``group`` (``cargroup``)
    is looked up without that suffix; a label whose value is negative (Cityscapes' ``license
    plate``, -1) is not drawn. The background is the ``unlabeled`` label (else ``void``, else 0).
    Unknown names are reported, not drawn (cityscapesScripts stops on them). The worker draws the
    objects in file order with Pillow's ``ImageDraw.polygon(points, fill=value)``, the call
    ``json2labelImg`` makes, so the pixels match the dataset's own tool.

``coco-panoptic``
    COCO panoptic (COCO 2017, WildDash 2): a PNG whose colour encodes a segment id,
    ``id = R + 256 * G + 256**2 * B`` (panopticapi's ``rgb2id``), plus a JSON file whose
    ``annotations[].segments_info`` give each segment's ``category_id`` and whose ``categories``
    give each category's name. :func:`panoptic_values` maps every pixel to the taxonomy value of
    its category's name, vectorised over the unique ids. Id 0 and segments missing from the JSON
    are the background (and counted).

``nuimages``
    nuImages: JSON tables with RLE masks per image, no label file (:mod:`app.domain.nuimages`).
    Each image gets a label-id PNG named like it (:func:`native_template` is the image pattern).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal

import numpy as np

from app.domain.errors import InvalidInput
from app.domain.taxonomy import Taxonomy

POLYGONS = "cityscapes-polygons"
PANOPTIC = "coco-panoptic"
NUIMAGES = "nuimages"
IMPLEMENTED = frozenset({POLYGONS, PANOPTIC, NUIMAGES})
CONVERTER_VERSION = "1"
RECORDS = "conversion-records.jsonl"  # one JSON record per converted file, in the output folder
BACKGROUND_NAMES = ("unlabeled", "void")
MAX_SIDE = 20_000


@dataclass(frozen=True, slots=True)
class ConversionItem:
    """One native label file (relative to the root) and its output (relative to the output folder)."""

    native: str
    output: str
    segments_json: str | None = None  # coco-panoptic: the JSON holding its segments_info (root-relative)


def background_value(taxonomy: Taxonomy) -> int:
    """The value of unlabelled pixels: the ``unlabeled`` label (as json2labelImg), else ``void``, else 0."""
    for name in BACKGROUND_NAMES:
        if taxonomy.has_name(name) and taxonomy.label_by_name(name).value >= 0:
            return taxonomy.label_by_name(name).value
    return 0


def converted_path(native: str) -> str:
    """Where the label-id PNG of a native label file goes, relative to the converted folder."""
    return PurePosixPath(native).with_suffix(".png").as_posix()


def converted_template(native_template: str) -> str:
    """The label template of the converted PNGs (the native template with the ``.png`` suffix)."""
    head, _, tail = native_template.rpartition("/")
    stem = tail.rsplit(".", 1)[0] if "." in tail else tail
    return f"{head}/{stem}.png" if head else f"{stem}.png"


def native_template(converter: str | None, image_pattern: str, label_template: str | None) -> str | None:
    """The template the converted PNGs are named by (before ``.png``): the native label template,
    or the image pattern for nuImages, whose labels are tables rather than one file per image."""
    return image_pattern if converter == NUIMAGES and label_template is None else label_template


def encoding_for(taxonomy: Taxonomy) -> Literal["ids8", "ids16"]:
    """``ids8`` when every value fits a byte, else ``ids16``."""
    return "ids8" if max((v for v in taxonomy.values if v >= 0), default=0) <= 255 else "ids16"


# --- Cityscapes-style polygons ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolygonObject:
    """One object to draw: its taxonomy value and its vertices ``(x, y)`` in pixels."""

    value: int
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class PolygonLabels:
    """A polygon file resolved through a taxonomy: what to draw, in file order.

    Attributes:
        width, height: the label image size (``imgWidth``, ``imgHeight``).
        background: value of pixels no object covers.
        objects: the objects drawn, in file order (later ones paint over earlier ones).
        unknown: label names not in the taxonomy (not drawn), in file order, each once.
        skipped: objects not drawn: deleted, or a label with a negative value.
    """

    width: int
    height: int
    background: int
    objects: tuple[PolygonObject, ...]
    unknown: tuple[str, ...]
    skipped: int


def _bad(message: str) -> InvalidInput:
    return InvalidInput(message, field="label")


def _size(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise _bad(f"{key} is {value!r}, not a whole number")
    if not 1 <= int(value) <= MAX_SIDE:
        raise _bad(f"{key} {int(value)} is outside 1..{MAX_SIDE}")
    return int(value)


def _points(raw: Any, index: int) -> tuple[tuple[float, float], ...]:
    if not isinstance(raw, list):
        raise _bad(f"object {index}: polygon is not a list of [x, y] points")
    points: list[tuple[float, float]] = []
    for p in raw:
        if (
            not isinstance(p, list | tuple)
            or len(p) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
        ):
            raise _bad(f"object {index}: polygon point {p!r} is not [x, y]")
        points.append((float(p[0]), float(p[1])))
    return tuple(points)


def _resolve_name(label: str, taxonomy: Taxonomy) -> str | None:
    if taxonomy.has_name(label):
        return label
    if label.endswith("group") and taxonomy.has_name(label[: -len("group")]):
        return label[: -len("group")]  # json2labelImg: 'cargroup' is drawn as 'car'
    return None


def parse_polygons(text: str, taxonomy: Taxonomy) -> PolygonLabels:
    """Read a Cityscapes-style ``*_polygons.json`` and resolve its names (see the module docstring).

    Raises:
        InvalidInput: not JSON, or not the format (missing/invalid size, objects or polygons).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _bad("not a polygon file: the top level is not an object")
    width, height = _size(data, "imgWidth"), _size(data, "imgHeight")
    raw_objects = data.get("objects")
    if not isinstance(raw_objects, list):
        raise _bad("not a polygon file: 'objects' is not a list")
    objects: list[PolygonObject] = []
    unknown: dict[str, None] = {}
    skipped = 0
    for i, obj in enumerate(raw_objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("label"), str):
            raise _bad(f"object {i} has no label name")
        if obj.get("deleted"):
            skipped += 1
            continue
        points = _points(obj.get("polygon"), i)
        name = _resolve_name(obj["label"], taxonomy)
        if name is None:
            unknown[obj["label"]] = None
            continue
        value = taxonomy.label_by_name(name).value
        if value < 0:  # json2labelImg: a negative id is not drawn
            skipped += 1
            continue
        objects.append(PolygonObject(value, points))
    return PolygonLabels(width, height, background_value(taxonomy), tuple(objects), tuple(unknown), skipped)


# --- COCO panoptic ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PanopticIndex:
    """A COCO panoptic JSON file: category names and, per PNG file name, segment id -> category id."""

    categories: dict[int, str]
    segments: dict[str, dict[int, int]]


def _int_field(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"{where}: {key} is {value!r}, not an integer")
    return value


def parse_panoptic_json(text: str) -> PanopticIndex:
    """Read a COCO panoptic JSON (``categories`` and ``annotations[].segments_info``).

    Raises:
        InvalidInput: not JSON, or ``categories``/``annotations`` missing or malformed.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("categories"), list):
        raise _bad("not a COCO panoptic file: 'categories' is missing")
    if not isinstance(data.get("annotations"), list):
        raise _bad("not a COCO panoptic file: 'annotations' is missing")
    categories: dict[int, str] = {}
    for i, cat in enumerate(data["categories"]):
        if not isinstance(cat, dict) or not isinstance(cat.get("name"), str):
            raise _bad(f"category {i} has no name")
        categories[_int_field(cat, "id", f"category {i}")] = cat["name"]
    segments: dict[str, dict[int, int]] = {}
    for i, ann in enumerate(data["annotations"]):
        if not isinstance(ann, dict) or not isinstance(ann.get("file_name"), str):
            raise _bad(f"annotation {i} has no file_name")
        infos = ann.get("segments_info")
        if not isinstance(infos, list) or not all(isinstance(s, dict) for s in infos):
            raise _bad(f"annotation {i} ({ann['file_name']}): segments_info is not a list")
        where = f"annotation {i} ({ann['file_name']})"
        segments[ann["file_name"]] = {
            _int_field(s, "id", where): _int_field(s, "category_id", where) for s in infos
        }
    return PanopticIndex(categories, segments)


def _loose(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


def category_values(index: PanopticIndex, taxonomy: Taxonomy) -> tuple[dict[int, int], tuple[str, ...]]:
    """Category id -> taxonomy value, by name; and the category names the taxonomy lacks.

    A name not in the taxonomy as written is matched ignoring case, spaces and punctuation when
    exactly one label matches that way (the reference lists spell some names without spaces, e.g.
    WildDash's ``egovehicle``; the JSON's spelling of them is not verified here).
    """
    loose: dict[str, list[int]] = {}
    for label in taxonomy.labels:
        if label.value >= 0:
            loose.setdefault(_loose(label.name), []).append(label.value)
    values: dict[int, int] = {}
    unknown: list[str] = []
    for cat_id, name in index.categories.items():
        candidates = sorted(set(loose.get(_loose(name), [])))
        if taxonomy.has_name(name) and taxonomy.label_by_name(name).value >= 0:
            values[cat_id] = taxonomy.label_by_name(name).value
        elif len(candidates) == 1:
            values[cat_id] = candidates[0]
        else:
            unknown.append(name)
    return values, tuple(unknown)


def rgb2id(rgb: np.ndarray) -> np.ndarray:
    """Segment ids of an ``(H, W, 3)`` panoptic PNG: ``R + 256 * G + 256**2 * B`` (int64)."""
    c = rgb.astype(np.int64)
    return np.asarray(c[..., 0] + 256 * c[..., 1] + 256 * 256 * c[..., 2])


@dataclass(frozen=True, slots=True)
class PanopticResult:
    """Decoded values and what could not be resolved (pixels of each kind count as background)."""

    values: np.ndarray
    unlisted_segments: tuple[int, ...]
    unknown_category_pixels: int


def panoptic_values(
    rgb: np.ndarray,
    segments: Mapping[int, int],
    values_of_category: Mapping[int, int],
    background: int,
) -> PanopticResult:
    """``(H, W)`` taxonomy values of a panoptic PNG; one look-up over the unique segment ids.

    Id 0 (unlabelled) is the background silently; a non-zero id missing from ``segments`` is
    background and listed; a segment whose category has no value is background and counted.
    """
    ids = rgb2id(rgb)
    unique, inverse = np.unique(ids, return_inverse=True)
    table = np.full(unique.shape, background, dtype=np.int64)
    unlisted: list[int] = []
    unknown = np.zeros(unique.shape, dtype=bool)
    for i, seg in enumerate(unique.tolist()):
        if seg == 0:
            continue
        cat = segments.get(seg)
        if cat is None:
            unlisted.append(seg)
        elif cat in values_of_category:
            table[i] = values_of_category[cat]
        else:
            unknown[i] = True
    flat = inverse.reshape(ids.shape)
    return PanopticResult(table[flat], tuple(unlisted), int(unknown[flat].sum()))
