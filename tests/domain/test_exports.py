"""Export classes, CVAT labelmap text and colour-mask decoding (issue 14), pure domain."""

from __future__ import annotations

import numpy as np
import pytest

from app.domain.errors import InvalidInput
from app.domain.exports import (
    cvat_labelmap,
    decode_color_mask,
    export_classes,
    parse_labelmap,
)
from app.domain.taxonomy import Label, Taxonomy


def _taxonomy() -> Taxonomy:
    return Taxonomy(
        "t",
        (
            Label(0, "road", "#804080"),
            Label(1, "unlabeled", "#000000"),  # black: CVAT's background colour
            Label(2, "car", "#804080"),  # the colour of road
            Label(3, "road"),  # a repeated name, no colour
            Label(4, "background", "#010203"),  # CVAT's reserved name
            Label(5, "a:b", "#0a0b0c"),  # a colon in the name
        ),
    )


def test_export_classes_are_unique_by_name_and_colour_and_never_black() -> None:
    classes = export_classes(_taxonomy())
    assert [c.name for c in classes] == ["road", "unlabeled", "car", "road (3)", "background (4)", "a:b"]
    colors = [c.rgb for c in classes]
    assert colors[0] == (128, 64, 128) and colors[4] == (1, 2, 3) and colors[5] == (10, 11, 12)
    assert len(set(colors)) == len(colors) and (0, 0, 0) not in colors
    assert export_classes(_taxonomy()) == classes  # deterministic


def test_labelmap_round_trips_and_decodes_a_mask() -> None:
    classes = export_classes(_taxonomy())
    text = cvat_labelmap(classes)
    assert text.splitlines()[:2] == ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    labelmap = parse_labelmap(text)
    assert labelmap[(0, 0, 0)] == "background" and labelmap[(10, 11, 12)] == "a:b"
    rgb = np.array([[[0, 0, 0], [10, 11, 12]], [list(classes[2].rgb), [128, 64, 128]]], np.uint8)
    ids = decode_color_mask(rgb, labelmap, classes, 255, image="x.png")
    assert ids.tolist() == [[255, 5], [2, 0]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("road:1,2,3::\nsky:300,0,0::\n", r"line 2: colour \(300, 0, 0\) is out of 0..255"),
        ("road;1,2,3\n", "line 1 is not"),
        ("road:1,2::\n", "line 1 is not"),
    ],
)
def test_bad_labelmap_lines_are_refused_with_the_line(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_labelmap(text)


def test_unknown_colour_or_label_is_refused_naming_the_image() -> None:
    classes = export_classes(_taxonomy())
    rgb = np.zeros((1, 1, 3), np.uint8)
    rgb[0, 0] = (9, 9, 9)
    with pytest.raises(InvalidInput, match=r"'x.png' has colour \(9, 9, 9\)"):
        decode_color_mask(rgb, {(0, 0, 0): "background"}, classes, 255, image="x.png")
    with pytest.raises(InvalidInput, match="'tree', which is not a class"):
        decode_color_mask(rgb, {(9, 9, 9): "tree"}, classes, 255, image="x.png")
