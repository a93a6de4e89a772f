"""Decode label images into pixel values and encode pseudo-label arrays. Pure domain layer (numpy only).

Encodings of ground-truth label images:

* ``ids8`` -- single-channel uint8 pixel values;
* ``ids16`` -- single-channel uint16 pixel values;
* ``panoptic16`` -- single-channel 16-bit panoptic values, class = value // 1000 (Waymo style);
* ``rgb`` -- colour-coded, decoded with a palette (unknown colours are counted): the dataset's own
  palette when it has one (:data:`Palette`, several colours may share one value, as A2D2's "Car 1".."Car 4"),
  else the taxonomy's colours.

Decoded values are int32 arrays; pixels that cannot be decoded get :data:`UNKNOWN_VALUE` (-1),
which :func:`app.domain.priors.CompiledPriors.index_of` sends to the "unknown value" row (void only).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from app.domain.errors import InvalidInput

UNKNOWN_VALUE = -1
VOID_OUTPUT = 255
PANOPTIC_DIVISOR = 1000

Palette = tuple[tuple[str, int], ...]
"""``(("#rrggbb", pixel value), ...)``: a colour-coded dataset's own palette (values may repeat)."""


class LabelEncoding(StrEnum):
    IDS8 = "ids8"
    IDS16 = "ids16"
    PANOPTIC16 = "panoptic16"
    RGB = "rgb"


@dataclass(frozen=True, slots=True)
class DecodedLabel:
    """A decoded label map.

    Attributes:
        values: ``(H, W)`` int32 source pixel values; :data:`UNKNOWN_VALUE` where undecodable.
        unknown_color_pixels: pixels whose colour is not in the palette (RGB encoding only).
        unknown_colors: up to 10 such colours as ``#rrggbb``.
    """

    values: np.ndarray
    unknown_color_pixels: int = 0
    unknown_colors: tuple[str, ...] = ()


def _pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` uint8 -> ``(...)`` int64 ``r << 16 | g << 8 | b``."""
    rgb = rgb.astype(np.int64, copy=False)
    packed: np.ndarray = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return packed


def _parse_hex(color: str) -> int:
    text = color.lstrip("#")
    if len(text) != 6:
        raise InvalidInput(f"colour {color!r} is not #rrggbb", field="color")
    return int(text, 16)


def palette_from_colors(colors: Mapping[int, str]) -> Palette:
    """A taxonomy's ``{value: "#rrggbb"}`` as a :data:`Palette` (a shared colour: the lower value wins)."""
    out: dict[str, int] = {}
    for value, color in sorted(colors.items()):
        out.setdefault(color.lower(), value)
    return tuple(out.items())


def decode_rgb(array: np.ndarray, colors: Mapping[int, str]) -> DecodedLabel:
    """Decode an ``(H, W, 3)`` colour-coded label with ``{pixel value: "#rrggbb"}``."""
    if not colors:
        raise InvalidInput("the taxonomy has no colours to decode an RGB label", field="encoding")
    return decode_rgb_palette(array, palette_from_colors(colors))


def decode_rgb_palette(array: np.ndarray, palette: Sequence[tuple[str, int]]) -> DecodedLabel:
    """Decode an ``(H, W, 3|4)`` uint8 colour-coded label with ``(("#rrggbb", value), ...)``.

    Vectorised: one ``searchsorted`` of the packed pixels over the sorted palette; no per-colour
    loop. An alpha channel is ignored. A colour listed twice keeps its first value.

    Returns:
        :class:`DecodedLabel`: ``(H, W)`` int32 values, :data:`UNKNOWN_VALUE` where the colour is
        not in the palette, with the count and (up to 10) the unknown colours.
    """
    if array.ndim != 3 or array.shape[2] < 3:
        raise InvalidInput(f"an RGB label needs shape (H, W, 3), got {array.shape}", field="label")
    if not palette:
        raise InvalidInput("no palette to decode an RGB label with", field="encoding")
    keys = np.array([_parse_hex(c) for c, _ in palette], dtype=np.int64)
    vals = np.array([v for _, v in palette], dtype=np.int32)
    keys, first = np.unique(keys, return_index=True)  # sorted; a repeated colour keeps its first entry
    vals = vals[first]
    packed = _pack_rgb(array[..., :3])
    pos = np.clip(np.searchsorted(keys, packed), 0, keys.size - 1)
    known = keys[pos] == packed
    values = np.where(known, vals[pos], UNKNOWN_VALUE).astype(np.int32)
    n_unknown = int(values.size - np.count_nonzero(known))
    unknown: tuple[str, ...] = ()
    if n_unknown:
        bad = np.unique(packed[~known])[:10]
        unknown = tuple(f"#{int(v):06x}" for v in bad)
    return DecodedLabel(values=values, unknown_color_pixels=n_unknown, unknown_colors=unknown)


def decode_label(
    array: np.ndarray,
    encoding: LabelEncoding | str,
    *,
    colors: Mapping[int, str] | None = None,
    palette: Sequence[tuple[str, int]] | None = None,
) -> DecodedLabel:
    """Decode a label image array into source pixel values.

    Args:
        array: ``(H, W)`` integer array (uint8 or uint16), or ``(H, W, 3|4)`` uint8 for ``rgb``.
        encoding: one of :class:`LabelEncoding`.
        colors: pixel value -> ``#rrggbb``, the taxonomy's colours (``rgb`` only).
        palette: the dataset's own :data:`Palette`; used instead of ``colors`` when given.

    Returns:
        :class:`DecodedLabel` with ``(H, W)`` int32 values.
    """
    enc = LabelEncoding(encoding)
    if enc is LabelEncoding.RGB:
        return decode_rgb_palette(array, palette) if palette else decode_rgb(array, colors or {})
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise InvalidInput(
            f"a {enc.value} label must be single-channel, got shape {array.shape}", field="label"
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidInput(f"label pixels must be integers, got {array.dtype}", field="label")
    if enc is LabelEncoding.IDS8 and array.dtype.itemsize > 1 and array.size and int(array.max()) > 255:
        raise InvalidInput("an ids8 label has values above 255; use ids16", field="encoding")
    values = array.astype(np.int32)
    if enc is LabelEncoding.PANOPTIC16:
        values //= PANOPTIC_DIVISOR
    return DecodedLabel(values=values)


_MAX_VALUE = {
    LabelEncoding.IDS8: 255,
    LabelEncoding.IDS16: 65535,
    LabelEncoding.PANOPTIC16: 65535 // PANOPTIC_DIVISOR,
}


def check_label_values(
    values: Iterable[int], encoding: LabelEncoding | str, *, known: Iterable[int] | None = None, field: str
) -> list[int]:
    """Sorted unique ``values``, each a pixel value a label of ``encoding`` can decode to.

    ``ids8`` 0..255, ``ids16`` 0..65535, ``panoptic16`` 0..65 (class = value // 1000); ``rgb`` decodes
    only to the values of its palette, so there ``known`` (those values) must hold each one.
    Raises InvalidInput naming ``field``.
    """
    enc = LabelEncoding(encoding)
    out = sorted({int(v) for v in values})
    if enc is LabelEncoding.RGB:
        allowed = set(known or ())
        bad = [v for v in out if v not in allowed]
        if bad:
            raise InvalidInput(f"values {bad} are in no colour of the rgb labels' palette", field=field)
        return out
    bad = [v for v in out if not 0 <= v <= _MAX_VALUE[enc]]
    if bad:
        raise InvalidInput(
            f"values {bad} are not {enc.value} label values (0..{_MAX_VALUE[enc]})", field=field
        )
    return out


def unknown_value_mask(values: np.ndarray, known_values: Iterable[int]) -> np.ndarray:
    """``(H, W)`` bool: pixels whose value is not a pixel value of the taxonomy."""
    known = np.fromiter(known_values, dtype=np.int64)
    return ~np.isin(values, known)


def output_dtype(num_classes: int) -> type[np.unsignedinteger]:
    """uint8 when class ids and 255 fit, uint16 otherwise."""
    return np.uint8 if num_classes <= VOID_OUTPUT else np.uint16


def void_value(num_classes: int) -> int:
    """The void pixel value of a pseudo-label: 255, or 65535 for teachers with more than 255 classes."""
    return VOID_OUTPUT if num_classes <= VOID_OUTPUT else 65535


def encode_pseudo_label(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``(H, W)`` ids in 0..N-1 or :func:`void_value` -> uint8 (uint16 when N > 255) array for a PNG.

    Raises:
        InvalidInput: a value is neither a class id nor void.
    """
    labels = np.asarray(labels)
    bad = ((labels < 0) | (labels >= num_classes)) & (labels != void_value(num_classes))
    if np.any(bad):
        raise InvalidInput(
            f"pseudo-label values outside 0..{num_classes - 1} and {void_value(num_classes)}", field="labels"
        )
    return labels.astype(output_dtype(num_classes))


def encode_confidence(confidence: np.ndarray) -> np.ndarray:
    """``(H, W)`` float confidence in [0, 1] -> uint8 0..255 (rounded)."""
    scaled: np.ndarray = np.clip(np.rint(np.asarray(confidence, dtype=np.float32) * 255.0), 0, 255)
    return scaled.astype(np.uint8)
