"""Label sets (taxonomies): labels with pixel values, names, colours and categories. Pure domain layer."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.domain.errors import InvalidInput
from app.domain.text import INT32_MAX, INT32_MIN, LINE_BREAKS_AND_TABS, describe_control_characters

_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
MAX_PIXEL_VALUE = 65535
NO_PIXEL = -1  # the paper's labels.csv uses id -1 for labels that never appear as a pixel value
MAX_LABEL_NAME = 200  # the label.name column
MAX_TAXONOMY_NAME = 200  # the taxonomy.name column
MAX_CATEGORY = 100  # the label.category column


def check_text(value: str, field_name: str, max_length: int) -> None:
    """Names go to database columns, CSV exports and download headers: bounded, no control chars."""
    if len(value) > max_length:
        raise InvalidInput(f"{field_name} is longer than {max_length} characters", field=field_name)
    problem = describe_control_characters(value)
    if problem:
        raise InvalidInput(f"{field_name} {value!r} {problem}", field=field_name)


def check_label_text(label: Label) -> None:
    """Refuse a label that no column can hold: over-long or control-character name or category,
    ``train_id``/``category_id`` outside the INTEGER range.

    Importers and the store path call this (see :func:`check_taxonomy_text`); constructing a
    ``Label`` does not, so rows stored before these rules stay readable and exportable.
    """
    check_text(label.name, "name", MAX_LABEL_NAME)
    if label.category is not None:
        if not isinstance(label.category, str):
            raise InvalidInput(f"category {label.category!r} must be a string", field="category")
        check_text(label.category, "category", MAX_CATEGORY)
    for name in ("train_id", "category_id"):
        number = getattr(label, name)
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or not INT32_MIN <= number <= INT32_MAX
        ):
            raise InvalidInput(
                f"{name} {number!r} must be an integer in {INT32_MIN}..{INT32_MAX}", field=name
            )


def check_taxonomy_text(taxonomy: Taxonomy) -> None:
    """:func:`check_label_text` for every label (fields named ``labels[i].<field>``), plus the name
    and the description (line breaks and tabs allowed there)."""
    check_text(taxonomy.name, "name", MAX_TAXONOMY_NAME)
    problem = describe_control_characters(taxonomy.description, LINE_BREAKS_AND_TABS)
    if problem:
        raise InvalidInput(f"description {problem}", field="description")
    check_labels_text(taxonomy.labels)


def check_labels_text(labels: Iterable[Label]) -> None:
    """:func:`check_label_text` for each label; the field is named ``labels[i].<field>``."""
    for index, label in enumerate(labels):
        try:
            check_label_text(label)
        except InvalidInput as exc:
            exc.field = f"labels[{index}].{exc.field}"
            raise


def normalize_color(value: str | None, *, field_name: str = "color") -> str | None:
    """Return ``#rrggbb`` in lower case, or None for an empty colour; raise InvalidInput otherwise."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.startswith("#"):
        text = "#" + text
    if not _COLOR_RE.match(text):
        raise InvalidInput(f"colour {value!r} is not of the form #rrggbb", field=field_name)
    return text.lower()


def color_to_rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b)."""
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@dataclass(frozen=True, slots=True)
class Label:
    """One label of a taxonomy.

    ``value`` is the pixel value in label images (may be -1: never appears as a pixel).
    ``name`` is matched exactly, whitespace included (the paper's files rely on that).
    """

    value: int
    name: str
    color: str | None = None
    category: str | None = None
    ignore: bool = False
    train_id: int | None = None
    category_id: int | None = None
    has_instances: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.value, int) or not NO_PIXEL <= self.value <= MAX_PIXEL_VALUE:
            raise InvalidInput(
                f"pixel value {self.value!r} of label {self.name!r} must be an integer in -1..65535",
                field="value",
            )
        if not isinstance(self.name, str) or self.name == "":
            raise InvalidInput("label name must be a non-empty string", field="name")
        if self.color is not None and not isinstance(self.color, str):
            raise InvalidInput(f"colour {self.color!r} must be a string #rrggbb", field="color")
        object.__setattr__(self, "color", normalize_color(self.color))


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """An ordered label set. Non-negative pixel values are unique.

    A name may repeat (the authors' CamVid lists ``Bicyclist`` at two ids, RUGD ``rock_bed``): a
    mapping edge naming it applies to every label of that name, as in the authors' code;
    :attr:`duplicate_names` lists them so that importers and reports can warn.
    """

    name: str
    labels: tuple[Label, ...]
    description: str = ""
    _by_name: dict[str, Label] = field(init=False, repr=False, compare=False)
    _by_value: dict[int, Label] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise InvalidInput("taxonomy name must not be empty", field="name")
        labels = tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        if not labels:
            raise InvalidInput(f"taxonomy {self.name!r} has no labels", field="labels")
        values = [lb.value for lb in labels if lb.value != NO_PIXEL]
        dup_values = sorted(v for v, c in Counter(values).items() if c > 1)
        if dup_values:
            raise InvalidInput(
                f"taxonomy {self.name!r} has duplicate pixel values: {dup_values}",
                field="labels",
                details={"duplicate_values": dup_values},
            )
        by_name: dict[str, Label] = {}
        for lb in labels:
            by_name.setdefault(lb.name, lb)  # the first label of a repeated name
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_by_value", {lb.value: lb for lb in labels if lb.value != NO_PIXEL})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lb.name for lb in self.labels)

    @property
    def values(self) -> tuple[int, ...]:
        """Pixel values that can occur in label images (labels with value -1 excluded)."""
        return tuple(lb.value for lb in self.labels if lb.value != NO_PIXEL)

    @property
    def colors(self) -> dict[int, str]:
        """Pixel value -> colour for labels that have one."""
        return {lb.value: lb.color for lb in self.labels if lb.color is not None and lb.value != NO_PIXEL}

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def duplicate_names(self) -> dict[str, tuple[Label, ...]]:
        """Names given to more than one label -> those labels, in order."""
        counts = Counter(lb.name for lb in self.labels)
        return {n: self.labels_named(n) for n, c in counts.items() if c > 1}

    def labels_named(self, name: str) -> tuple[Label, ...]:
        """Every label called ``name`` (more than one when the name repeats)."""
        return tuple(lb for lb in self.labels if lb.name == name)

    def has_name(self, name: str) -> bool:
        return name in self._by_name

    def label_by_name(self, name: str) -> Label:
        """The label called ``name`` (the first one when the name repeats)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidInput(f"label {name!r} is not in taxonomy {self.name!r}", field="name") from None

    def label_by_value(self, value: int) -> Label:
        try:
            return self._by_value[value]
        except KeyError:
            raise InvalidInput(
                f"pixel value {value} is not in taxonomy {self.name!r}", field="value"
            ) from None

    def is_class_list(self) -> bool:
        """True when the values are exactly 0..N-1 in order: usable as a teacher's target classes."""
        return [lb.value for lb in self.labels] == list(range(len(self.labels)))

    def class_list(self) -> tuple[tuple[int, str], ...]:
        """(value, name) pairs in order: the identity used to reuse a target taxonomy on import."""
        return tuple((lb.value, lb.name) for lb in self.labels)

    def id2label(self) -> dict[int, str]:
        """Class id -> name, as a Hugging Face config's ``id2label`` (class lists only)."""
        if not self.is_class_list():
            raise InvalidInput(f"taxonomy {self.name!r} is not a class list 0..N-1", field="labels")
        return {lb.value: lb.name for lb in self.labels}


def label_from_json(data: Mapping[str, Any], *, index: int = 0) -> Label:
    """Build a Label from the documented JSON shape; errors name the label index."""
    if not isinstance(data, Mapping):
        raise InvalidInput("each label must be a JSON object", field=f"labels[{index}]")
    unknown = set(data) - {
        "value",
        "name",
        "color",
        "category",
        "ignore",
        "train_id",
        "category_id",
        "has_instances",
    }
    if unknown:
        raise InvalidInput(f"unknown label keys {sorted(unknown)}", field=f"labels[{index}]")
    try:
        label = Label(
            value=_int(data.get("value"), f"labels[{index}].value"),
            name=_str(data.get("name"), f"labels[{index}].name"),
            color=_opt_str(data.get("color"), f"labels[{index}].color"),
            category=_opt_str(data.get("category"), f"labels[{index}].category"),
            ignore=_bool(data.get("ignore", False), f"labels[{index}].ignore"),
            train_id=None
            if data.get("train_id") is None
            else _int(data["train_id"], f"labels[{index}].train_id"),
            category_id=None
            if data.get("category_id") is None
            else _int(data["category_id"], f"labels[{index}].category_id"),
            has_instances=None
            if data.get("has_instances") is None
            else _bool(data["has_instances"], f"labels[{index}].has_instances"),
        )
        check_label_text(label)
        return label
    except InvalidInput as exc:
        if exc.field and not exc.field.startswith("labels["):
            exc.field = f"labels[{index}].{exc.field}"
        raise


def taxonomy_from_json(data: Any) -> Taxonomy:
    """Parse the documented JSON taxonomy format.

    ``{"name": str, "description": str?, "labels": [{"value": int, "name": str, "color": "#rrggbb"?,
    "category": str?, "ignore": bool?, "train_id": int?, "category_id": int?, "has_instances": bool?}]}``
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("a taxonomy must be a JSON object")
    labels_raw = data.get("labels")
    if not isinstance(labels_raw, list):
        raise InvalidInput("'labels' must be a list", field="labels")
    labels = tuple(label_from_json(item, index=i) for i, item in enumerate(labels_raw))
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise InvalidInput("'description' must be a string", field="description")
    taxonomy = Taxonomy(name=_str(data.get("name"), "name"), labels=labels, description=description)
    check_taxonomy_text(taxonomy)
    return taxonomy


def taxonomy_to_json(taxonomy: Taxonomy) -> dict[str, Any]:
    """The documented JSON taxonomy format (inverse of :func:`taxonomy_from_json`)."""
    return {
        "name": taxonomy.name,
        "description": taxonomy.description,
        "labels": [label_to_json(lb) for lb in taxonomy.labels],
    }


def label_to_json(label: Label) -> dict[str, Any]:
    return {
        "value": label.value,
        "name": label.name,
        "color": label.color,
        "category": label.category,
        "ignore": label.ignore,
        "train_id": label.train_id,
        "category_id": label.category_id,
        "has_instances": label.has_instances,
    }


def class_list_taxonomy(name: str, classes: Iterable[tuple[int, str]], description: str = "") -> Taxonomy:
    """A target taxonomy from (class id, name) pairs (void rows excluded by the caller)."""
    return Taxonomy(
        name=name, labels=tuple(Label(value=i, name=n) for i, n in classes), description=description
    )


def _int(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field_name} must be an integer, got {value!r}", field=field_name)
    return value


def _str(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or value == "":
        raise InvalidInput(f"{field_name} must be a non-empty string, got {value!r}", field=field_name)
    return value


def _opt_str(value: Any, field_name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"{field_name} must be a string or null, got {value!r}", field=field_name)
    return value


def _bool(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{field_name} must be true or false, got {value!r}", field=field_name)
    return value
