"""Colour overlays of label maps as PNG, drawn server-side with numpy + Pillow (web layer, torch-free).

Ground-truth labels are decoded with :mod:`app.domain.label_codec` (any encoding) and painted in the
source taxonomy's colours; pseudo-labels (class ids, void 255/65535) in the target taxonomy's
colours with void in the UI's void grey. Labels without a colour get a fixed fallback palette, the
same one the legends use (:func:`palette`), so a swatch always matches its pixels.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from app.domain.errors import InvalidInput
from app.domain.label_codec import Palette, decode_label, void_value
from app.domain.taxonomy import Taxonomy

VOID_COLOR = "#596273"  # --void in app.css
MAX_SIDE = 1024  # overlays are for looking, not measuring: larger maps are shrunk (nearest)
# Tableau-20-like fallback for labels without a colour (taxonomies made from class lists).
_FALLBACK = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip


def palette(taxonomy: Taxonomy) -> dict[int, str]:
    """Pixel value -> ``#rrggbb`` for every label (its own colour, else a fallback by position)."""
    return {lb.value: lb.color or _FALLBACK[i % len(_FALLBACK)] for i, lb in enumerate(taxonomy.labels)}


def _rgb(color: str) -> tuple[int, int, int]:
    text = color.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)


def paint(values: np.ndarray, colors: dict[int, str]) -> np.ndarray:
    """Colour a label map through a lookup table (no per-label loop over pixels).

    Args:
        values: ``(H, W)`` integer pixel values (negative = undecodable).
        colors: value -> ``#rrggbb``; values not in it stay transparent.

    Returns:
        ``(H, W, 4)`` uint8 RGBA.
    """
    top = max([int(values.max()) if values.size else 0, *colors]) + 1
    lut = np.zeros((top + 1, 4), dtype=np.uint8)  # last row: negative / unknown values
    for value, color in colors.items():
        if value >= 0:
            lut[value] = (*_rgb(color), 255)
    index = np.where(values < 0, top, values).astype(np.int64)
    return lut[index]


def _shrink(values: np.ndarray) -> np.ndarray:
    """Subsample ``(H, W)`` so its longer side is at most :data:`MAX_SIDE` (nearest neighbour)."""
    step = max(1, -(-max(values.shape[:2]) // MAX_SIDE))
    return values[::step, ::step] if step > 1 else values


def png(rgba: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def ground_truth_png(
    path: Path, encoding: str, source: Taxonomy, label_palette: Palette | None = None
) -> bytes:
    """The ground-truth label file at ``path`` painted in ``source``'s colours.

    ``rgb`` labels are decoded with ``label_palette`` (the dataset's own) when given.
    """
    colors = palette(source)
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB") if encoding == "rgb" else im)
    except OSError as exc:
        raise InvalidInput(f"cannot read label file {path.name!r}: {exc}", field="path") from exc
    values = decode_label(array, encoding, colors=source.colors, palette=label_palette).values
    return png(paint(_shrink(values), colors))


def pseudo_label_png(path: Path, target: Taxonomy) -> bytes:
    """A pseudo-label file (class ids, void) painted in ``target``'s colours, void in grey."""
    colors = palette(target) | {void_value(target.num_classes): VOID_COLOR}
    try:
        with Image.open(path) as im:
            values = np.asarray(im).astype(np.int64)
    except OSError as exc:
        raise InvalidInput(f"cannot read label file {path.name!r}: {exc}", field="path") from exc
    return png(paint(_shrink(values), colors))
