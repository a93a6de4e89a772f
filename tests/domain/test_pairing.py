"""Pairing rules: list files and image pattern + label template over relative paths."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidInput
from app.domain.pairing import (
    Pair,
    compile_image_pattern,
    format_list_file,
    pairs_from_list_file,
    pairs_from_template,
)

FILES = [
    "images/train/a.jpg",
    "images/train/b.jpg",
    "images/val/c.jpg",
    "images/val/d.jpg",
    "labels/train/a_labelids.png",
    "labels/train/b_labelids.png",
    "labels/val/c_labelids.png",
    "README.md",
]


def test_template_pairs_with_split_and_stem() -> None:
    result = pairs_from_template(FILES, "images/{split}/{stem}.jpg", "labels/{split}/{stem}_labelids.png")
    assert result.pairs == (
        Pair("images/train/a.jpg", "labels/train/a_labelids.png", "train"),
        Pair("images/train/b.jpg", "labels/train/b_labelids.png", "train"),
        Pair("images/val/c.jpg", "labels/val/c_labelids.png", "val"),
    )
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.image == "images/val/d.jpg" and "does not exist" in problem.message


def test_template_with_glob_and_builtin_fields() -> None:
    files = ["img/x/1.png", "img/y/z/2.png", "gt/x/1.png", "gt/y/z/2.png"]
    result = pairs_from_template(files, "img/**/*.png", "gt/{dir}/{name}")
    assert [(p.image, p.label) for p in result.pairs] == []  # {dir} is the image's folder: img/...
    result = pairs_from_template(files, "img/{dir}/*.png", "gt/{dir}/{name}")
    assert [(p.image, p.label) for p in result.pairs] == [
        ("img/x/1.png", "gt/x/1.png"),
        ("img/y/z/2.png", "gt/y/z/2.png"),
    ]


def test_template_without_labels_pairs_images_only() -> None:
    result = pairs_from_template(FILES, "images/*/*.jpg", None)
    assert [p.image for p in result.pairs] == [f for f in FILES if f.endswith(".jpg")]
    assert all(p.label is None for p in result.pairs)


def test_template_placeholder_not_in_pattern_is_invalid() -> None:
    with pytest.raises(InvalidInput) as exc:
        pairs_from_template(FILES, "images/*/{stem}.jpg", "labels/{split}/{stem}.png")
    assert exc.value.field == "label_template"


def test_pattern_rejects_absolute_and_repeated_placeholder() -> None:
    with pytest.raises(InvalidInput):
        compile_image_pattern("/abs/{stem}.jpg")
    with pytest.raises(InvalidInput):
        compile_image_pattern("{stem}/{stem}.jpg")


def test_same_label_for_two_images_is_a_problem() -> None:
    files = ["a/x.jpg", "a/x.png", "l/x.png"]
    result = pairs_from_template(files, "a/{stem}.*", "l/{stem}.png")
    assert len(result.pairs) == 1
    assert "already paired" in result.problems[0].message


def test_list_file_pairs_and_problems() -> None:
    text = (
        "# comment\n"
        "images/train/a.jpg labels/train/a_labelids.png\n"
        "\n"
        "images/train/b.jpg\tlabels/train/b_labelids.png\n"
        "images/val/d.jpg labels/val/d_labelids.png\n"
        "only-one-field\n"
        "../etc/passwd labels/val/c_labelids.png\n"
        "/abs.jpg labels/val/c_labelids.png\n"
        "images/train/a.jpg labels/train/a_labelids.png\n"
    )
    result = pairs_from_list_file(text, available=FILES)
    assert [p.image for p in result.pairs] == ["images/train/a.jpg", "images/train/b.jpg"]
    lines = {p.line for p in result.problems if p.line is not None}
    assert lines == {5, 6, 7, 8}
    messages = " ".join(p.message for p in result.problems)
    assert "does not exist" in messages and ".." in messages and "absolute" in messages
    assert "more than once" in messages


def test_list_file_without_available_skips_existence_check() -> None:
    result = pairs_from_list_file("x.jpg y.png\n")
    assert result.pairs == (Pair("x.jpg", "y.png"),) and result.problems == ()


def test_format_list_file_round_trips() -> None:
    pairs = (Pair("a b.jpg", "l/a b.png"), Pair("c.jpg", "l/c.png"))
    assert pairs_from_list_file(format_list_file(pairs)).pairs == pairs
