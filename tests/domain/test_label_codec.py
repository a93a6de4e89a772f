"""Label codec: decoding 8/16-bit ids, panoptic, colour-coded labels; encoding pseudo-labels."""

from __future__ import annotations

import numpy as np
import pytest

from app.domain.errors import InvalidInput
from app.domain.label_codec import (
    UNKNOWN_VALUE,
    LabelEncoding,
    decode_label,
    encode_confidence,
    encode_pseudo_label,
    output_dtype,
    unknown_value_mask,
    void_value,
)

PALETTE = {0: "#000000", 7: "#804080", 26: "#00008e", 300: "#ffffff"}


def test_decode_ids8_returns_int32_values() -> None:
    arr = np.array([[0, 7], [255, 26]], dtype=np.uint8)
    out = decode_label(arr, "ids8")
    assert out.values.dtype == np.int32
    assert out.values.tolist() == [[0, 7], [255, 26]]


def test_decode_ids16_keeps_values_above_255() -> None:
    arr = np.array([[0, 300], [65535, 1]], dtype=np.uint16)
    assert decode_label(arr, LabelEncoding.IDS16).values.tolist() == [[0, 300], [65535, 1]]


def test_decode_panoptic_divides_by_1000() -> None:
    arr = np.array([[7 * 1000 + 3, 26 * 1000], [0, 65 * 1000 + 535]], dtype=np.uint16)
    assert decode_label(arr, "panoptic16").values.tolist() == [[7, 26], [0, 65]]


def test_decode_rgb_maps_colours_and_counts_unknown() -> None:
    rgb = np.array(
        [[[0, 0, 0], [0x80, 0x40, 0x80]], [[0, 0, 0x8E], [1, 2, 3]], [[255, 255, 255], [1, 2, 3]]],
        dtype=np.uint8,
    )
    out = decode_label(rgb, "rgb", colors=PALETTE)
    assert out.values.tolist() == [[0, 7], [26, UNKNOWN_VALUE], [300, UNKNOWN_VALUE]]
    assert out.unknown_color_pixels == 2
    assert out.unknown_colors == ("#010203",)


def test_decode_rgb_matches_per_pixel_reference_on_random_data() -> None:
    rng = np.random.default_rng(0)
    colors = [(0, 0, 0), (0x80, 0x40, 0x80), (0, 0, 0x8E), (255, 255, 255), (9, 9, 9)]
    idx = rng.integers(0, len(colors), (30, 20))
    rgb = np.array(colors, dtype=np.uint8)[idx]
    out = decode_label(rgb, "rgb", colors=PALETTE)
    lookup = {tuple(int(c) for c in bytes.fromhex(v[1:])): k for k, v in PALETTE.items()}
    expected = [
        [lookup.get(tuple(int(c) for c in rgb[y, x]), UNKNOWN_VALUE) for x in range(20)] for y in range(30)
    ]
    assert out.values.tolist() == expected
    assert out.unknown_color_pixels == int((idx == 4).sum())


def test_decode_rgba_ignores_alpha() -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    assert decode_label(rgba, "rgb", colors=PALETTE).values.tolist() == [[0, 0], [0, 0]]


def test_decode_rgb_without_palette_is_invalid() -> None:
    with pytest.raises(InvalidInput):
        decode_label(np.zeros((2, 2, 3), np.uint8), "rgb", colors={})


def test_decode_ids_rejects_multichannel_and_floats() -> None:
    with pytest.raises(InvalidInput):
        decode_label(np.zeros((2, 2, 3), np.uint8), "ids8")
    with pytest.raises(InvalidInput):
        decode_label(np.zeros((2, 2), np.float32), "ids16")


def test_decode_ids8_rejects_values_above_255() -> None:
    with pytest.raises(InvalidInput):
        decode_label(np.array([[300]], dtype=np.uint16), "ids8")


def test_unknown_encoding_is_rejected() -> None:
    with pytest.raises(ValueError):
        decode_label(np.zeros((2, 2), np.uint8), "jpeg")


def test_unknown_value_mask() -> None:
    values = np.array([[0, 6], [7, -1]])
    assert unknown_value_mask(values, [0, 7, 26]).tolist() == [[False, True], [False, True]]


def test_encode_pseudo_label_uint8_and_uint16() -> None:
    labels = np.array([[0, 3], [255, 1]])
    out = encode_pseudo_label(labels, num_classes=4)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 3], [255, 1]]
    big = encode_pseudo_label(np.array([[0, 299], [65535, 256]]), num_classes=300)
    assert big.dtype == np.uint16 and big.tolist() == [[0, 299], [65535, 256]]
    assert output_dtype(255) is np.uint8 and output_dtype(256) is np.uint16
    assert void_value(4) == 255 and void_value(300) == 65535


def test_encode_pseudo_label_rejects_out_of_range() -> None:
    with pytest.raises(InvalidInput):
        encode_pseudo_label(np.array([[4]]), num_classes=4)
    with pytest.raises(InvalidInput):
        encode_pseudo_label(np.array([[-1]]), num_classes=4)


def test_encode_confidence_rounds_to_0_255() -> None:
    out = encode_confidence(np.array([[0.0, 0.5], [1.0, 1.2]]))
    assert out.dtype == np.uint8 and out.tolist() == [[0, 128], [255, 255]]
