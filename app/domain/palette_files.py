"""Parse the palette files that colour-coded datasets ship with their labels. Pure domain layer.

Each parser takes the file's text and returns a :data:`~app.domain.label_codec.Palette`
(``("#rrggbb", pixel value)`` pairs) whose values follow the order the reference ``labels.csv``
of the paper's authors uses for that dataset (documented per format in ``docs/datasets.md``):

* ``a2d2_class_list`` -- A2D2's ``class_list.json`` (``{"#ff0000": "Car 1", ...}``, 55 colours).
  Colours whose names differ only by a trailing number ("Car 1" .. "Car 4") are one class; the
  classes in order of first appearance get values 1, 2, ... (0 is the reference list's ``void``,
  which has no colour in A2D2).
* ``camvid_class_dict`` -- the ``class_dict.csv`` of the common CamVid split (``name,r,g,b``
  header, 32 rows): row *i* gets value *i*.
* ``camvid_label_colors`` -- the original CamVid ``label_colors.txt`` (``r g b<TAB>Name``, 32 rows,
  same order as ``class_dict.csv``): row *i* gets value *i*.
* ``rugd_colormap`` -- RUGD's ``RUGD_annotation-colormap.txt`` (``index name r g b``): value = index.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from app.domain.errors import InvalidInput
from app.domain.label_codec import Palette

MAX_PALETTE = 4096


def _hex(r: int, g: int, b: int, where: str) -> str:
    if not all(0 <= c <= 255 for c in (r, g, b)):
        raise InvalidInput(f"{where}: colour ({r}, {g}, {b}) is outside 0..255", field="palette")
    return f"#{r:02x}{g:02x}{b:02x}"


def _ints(parts: list[str], where: str) -> tuple[int, int, int]:
    try:
        r, g, b = (int(p) for p in parts)
    except ValueError:
        raise InvalidInput(
            f"{where}: expected three integers r g b, got {parts!r}", field="palette"
        ) from None
    return r, g, b


def parse_a2d2_class_list(text: str) -> Palette:
    """A2D2 ``class_list.json`` -> palette (numbered variants of a class share its value)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"class_list.json is not JSON: {exc.msg} (line {exc.lineno})", field="palette"
        ) from None
    if not isinstance(data, dict) or not data:
        raise InvalidInput('class_list.json must be a non-empty object {"#rrggbb": name}', field="palette")
    groups: dict[str, int] = {}
    out: list[tuple[str, int]] = []
    for color, name in data.items():
        if not isinstance(name, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", str(color)):
            raise InvalidInput(
                f"class_list.json: entry {color!r}: {name!r} is not '#rrggbb': name", field="palette"
            )
        group = re.sub(r"\s+\d+$", "", name.strip()).lower()
        value = groups.setdefault(group, len(groups) + 1)
        out.append((str(color).lower(), value))
    return tuple(out)


def parse_camvid_class_dict(text: str) -> Palette:
    """CamVid ``class_dict.csv`` (``name,r,g,b``) -> palette, value = row index from 0."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and lines[0].lower().replace(" ", "").startswith("name,r,g,b"):
        lines = lines[1:]
    out = []
    for i, line in enumerate(lines):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 4:
            raise InvalidInput(f"class_dict.csv row {i + 2}: expected name,r,g,b", field="palette")
        out.append((_hex(*_ints(parts[1:], f"class_dict.csv row {i + 2}"), f"class_dict.csv row {i + 2}"), i))
    return tuple(out)


def parse_camvid_label_colors(text: str) -> Palette:
    """CamVid ``label_colors.txt`` (``r g b name``) -> palette, value = row index from 0."""
    out = []
    for i, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        parts = line.split()
        if len(parts) < 4:
            raise InvalidInput(f"label_colors.txt line {i + 1}: expected 'r g b name'", field="palette")
        out.append((_hex(*_ints(parts[:3], f"label_colors.txt line {i + 1}"), f"line {i + 1}"), i))
    return tuple(out)


def parse_rugd_colormap(text: str) -> Palette:
    """RUGD ``RUGD_annotation-colormap.txt`` (``index name r g b``) -> palette, value = index."""
    out = []
    for i, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        parts = line.split()
        where = f"RUGD colormap line {i + 1}"
        if len(parts) != 5 or not parts[0].isdigit():
            raise InvalidInput(f"{where}: expected 'index name r g b'", field="palette")
        out.append((_hex(*_ints(parts[2:], where), where), int(parts[0])))
    return tuple(out)


PALETTE_PARSERS: dict[str, Callable[[str], Palette]] = {
    "a2d2_class_list": parse_a2d2_class_list,
    "camvid_class_dict": parse_camvid_class_dict,
    "camvid_label_colors": parse_camvid_label_colors,
    "rugd_colormap": parse_rugd_colormap,
}


def parse_palette_file(text: str, fmt: str) -> Palette:
    """Parse ``text`` in palette format ``fmt`` (a key of :data:`PALETTE_PARSERS`).

    Raises:
        InvalidInput: unknown format, malformed file, or more than :data:`MAX_PALETTE` colours.
    """
    parser = PALETTE_PARSERS.get(fmt)
    if parser is None:
        raise InvalidInput(
            f"unknown palette format {fmt!r}; known: {sorted(PALETTE_PARSERS)}", field="palette"
        )
    palette = parser(text)
    if not palette or len(palette) > MAX_PALETTE:
        raise InvalidInput(f"a palette needs 1..{MAX_PALETTE} colours, got {len(palette)}", field="palette")
    return palette
