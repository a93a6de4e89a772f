"""Export layouts of a pseudo-label run (issue 14): CVAT "Segmentation mask 1.1", Cityscapes,
Hugging Face imagefolder, FiftyOne image-segmentation directory. Pure domain layer.

A run's label PNGs hold class ids 0..N-1 of the target taxonomy (a class list) and the void value
(``label_codec.void_value``). Each format gets them by the target taxonomy:

- CVAT: one RGB colour per class (the taxonomy's, made unique and never black), void as CVAT's
  ``background`` (0,0,0: "not annotated"); ``labelmap.txt`` says ``name:r,g,b::`` per label.
- Cityscapes: ``*_labelIds.png`` with the class ids (void 255) and ``*_color.png``.

Reading corrected masks back (:func:`decode_color_mask`) maps each colour through the uploaded
``labelmap.txt`` to a label name, then to the class of that name; a colour or name that is not
declared is refused with the image named.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from app.domain.errors import InvalidInput
from app.domain.taxonomy import Taxonomy, color_to_rgb

FORMATS = ("cvat", "cityscapes", "hf_imagefolder", "fiftyone")
BACKGROUND = "background"
BLACK = (0, 0, 0)
RGB = tuple[int, int, int]
_RGB = re.compile(r"\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*")


@dataclass(frozen=True, slots=True)
class ExportClass:
    """One class as it is written: id in the label PNGs, unique export name, unique RGB colour."""

    value: int
    name: str
    rgb: RGB


def export_classes(taxonomy: Taxonomy) -> list[ExportClass]:
    """The target classes with unique names and unique non-black colours (deterministic).

    A repeated name (or one called ``background``) gets `` (<id>)`` appended; a missing, black or
    repeated colour is replaced by the first free colour of a fixed sequence.
    """
    taken_names: set[str] = {BACKGROUND}
    taken_colors: set[RGB] = {BLACK}
    names: list[str] = []
    for label in taxonomy.labels:
        name = label.name if label.name not in taken_names else f"{label.name} ({label.value})"
        taken_names.add(name)
        names.append(name)
    wanted: list[RGB | None] = []
    for label in taxonomy.labels:
        rgb = color_to_rgb(label.color) if label.color else None
        if rgb is None or rgb in taken_colors:
            wanted.append(None)
        else:
            taken_colors.add(rgb)
            wanted.append(rgb)
    free = _free_colors(taken_colors)
    return [
        ExportClass(label.value, name, rgb if rgb is not None else next(free))
        for label, name, rgb in zip(taxonomy.labels, names, wanted, strict=True)
    ]


def _free_colors(taken: set[RGB]) -> Iterator[RGB]:
    step = (67, 149, 211)  # coprime-ish strides: distinct, spread-out colours
    i = 1
    while True:
        rgb = ((i * step[0]) % 256, (i * step[1]) % 256, (i * step[2]) % 256)
        i += 1
        if rgb not in taken:
            taken.add(rgb)
            yield rgb


def cvat_labelmap(classes: Sequence[ExportClass]) -> str:
    """``labelmap.txt`` of CVAT's Segmentation mask 1.1: background first, then every class."""
    lines = ["# label:color_rgb:parts:actions", f"{BACKGROUND}:0,0,0::"]
    lines += [f"{c.name}:{c.rgb[0]},{c.rgb[1]},{c.rgb[2]}::" for c in classes]
    return "\n".join(lines) + "\n"


def parse_labelmap(text: str) -> dict[RGB, str]:
    """Colour -> label name of a CVAT ``labelmap.txt`` (``name:r,g,b:parts:actions`` lines).

    A label name may contain ``:``; the colour is the field after the last ``:`` of the name, so
    the line is read from its end (parts and actions are the last two fields).
    """
    colors: dict[RGB, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.rsplit(":", 3)
        match = _RGB.fullmatch(fields[1]) if len(fields) == 4 else None
        if match is None:
            raise InvalidInput(
                f"labelmap.txt line {number} is not 'name:r,g,b:parts:actions': {line[:80]!r}", field="file"
            )
        rgb = (int(match[1]), int(match[2]), int(match[3]))
        if max(rgb) > 255:
            raise InvalidInput(f"labelmap.txt line {number}: colour {rgb} is out of 0..255", field="file")
        colors[rgb] = fields[0]
    return colors


def colorize(ids: np.ndarray, classes: Sequence[ExportClass], void: int) -> np.ndarray:
    """``(H, W)`` class ids -> ``(H, W, 3)`` uint8 colours; void (and anything unknown) black."""
    lut = np.zeros((max(void, max((c.value for c in classes), default=0)) + 1, 3), dtype=np.uint8)
    for c in classes:
        lut[c.value] = c.rgb
    ids = np.asarray(ids).astype(np.int64)
    out: np.ndarray = lut[np.clip(ids, 0, lut.shape[0] - 1)]
    return out


def decode_color_mask(
    rgb: np.ndarray, labelmap: dict[RGB, str], classes: Sequence[ExportClass], void: int, *, image: str
) -> np.ndarray:
    """A CVAT colour mask ``(H, W, 3)`` -> class ids (``background`` -> void).

    Raises:
        InvalidInput: a colour is not in ``labelmap``, or names a label that is not a class.
    """
    by_name = {c.name: c.value for c in classes}
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    out = np.full(packed.shape, void, dtype=np.int64)
    for key in np.unique(packed):
        color = (int(key) >> 16, (int(key) >> 8) & 255, int(key) & 255)
        name = labelmap.get(color)
        if name is None:
            raise InvalidInput(
                f"mask of {image!r} has colour {color}, which labelmap.txt does not declare", field="file"
            )
        if name == BACKGROUND:
            continue
        if name not in by_name:
            raise InvalidInput(
                f"mask of {image!r} uses label {name!r}, which is not a class of the target taxonomy "
                f"(classes: {', '.join(sorted(by_name))})",
                field="file",
            )
        out[packed == key] = by_name[name]
    return out


def item_name(image: str) -> str:
    """The CVAT item name of a dataset image: its relative path without the extension."""
    return PurePosixPath(image).with_suffix("").as_posix()


def flat_name(image: str) -> str:
    """A file stem for flat layouts (Cityscapes, FiftyOne): the relative path with ``/`` -> ``__``."""
    return item_name(image).replace("/", "__")


def cityscapes_paths(image: str, split: str | None) -> tuple[str, str, str]:
    """(image, labelIds, color) archive paths of one image in the Cityscapes layout."""
    folder = split or "all"
    stem = flat_name(image)
    suffix = PurePosixPath(image).suffix or ".png"
    return (
        f"leftImg8bit/{folder}/unilabel/{stem}_leftImg8bit{suffix}",
        f"gtFine/{folder}/unilabel/{stem}_gtFine_labelIds.png",
        f"gtFine/{folder}/unilabel/{stem}_gtFine_color.png",
    )
