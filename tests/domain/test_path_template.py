"""Path templates: named fields only, ``{{``/``}}`` escapes, plain substitution, errors with a position."""

from __future__ import annotations

import pytest

from app.domain.errors import InvalidInput
from app.domain.pairing import compile_image_pattern, pairs_from_template, parse_label_template
from app.domain.path_template import Field, parse_path_template

FIELDS = {"stem", "name", "dir", "split"}


@pytest.mark.parametrize(
    ("template", "position", "words"),
    [
        ("labels/{stem.__class__.__mro__}", 8, "attribute access"),
        ("{stem:>100000000}", 1, "format spec"),
        ("x/{", 3, "not closed"),
        ("x/}", 3, "single '}'"),
        ("{0}", 1, "positional"),
        ("a/{stem!r}.png", 3, "conversion"),
        ("a/{stem[0]}.png", 3, "indexing"),
        ("{unknown}", 1, "'{unknown}'"),
        ("{}", 1, "no field name"),
        ("{ stem}", 1, "not a field name"),
        ("{stem", 1, "not closed"),
    ],
)
def test_bad_templates_name_the_position_and_the_text(template: str, position: int, words: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_path_template(template, allowed=FIELDS)
    error = exc.value
    assert error.field == "label_template" and error.column == position
    assert f"character {position}" in error.message and words in error.message
    assert repr(template) in error.message


def test_escapes_and_fields_parse_into_parts() -> None:
    parsed = parse_path_template("l/{{x}}_{split}/{stem}}}.png", allowed=FIELDS)
    assert parsed.parts == ("l/{x}_", Field("split"), "/", Field("stem"), "}.png")
    assert parsed.fields == ("split", "stem")
    assert parsed.render({"split": "val", "stem": "a"}) == "l/{x}_val/a}.png"


def test_rendering_substitutes_values_literally() -> None:
    """A value with braces or format syntax is copied as is, never interpreted."""
    parsed = parse_path_template("labels/{stem}.png", allowed=FIELDS)
    for value in ("{name}", "{0}", "{stem.__class__}", "{{x}}", "%s"):
        assert parsed.render({"stem": value}) == f"labels/{value}.png"


def test_a_huge_padding_spec_is_refused_as_a_template_error() -> None:
    """Refused when the template is parsed, before any name is rendered (no 100 MB padding)."""
    with pytest.raises(InvalidInput) as refused:
        pairs_from_template(["images/a.png"], "images/{stem}.png", "{stem:>100000000}")
    assert refused.value.field == "label_template"


def test_pairing_fills_labels_from_file_names_with_braces_literally() -> None:
    files = ["images/{name}.png", "labels/{name}.png", "images/x{0}.png", "labels/x{0}.png"]
    result = pairs_from_template(files, "images/{stem}.png", "labels/{stem}.png")
    assert [(p.image, p.label) for p in result.pairs] == [
        ("images/x{0}.png", "labels/x{0}.png"),
        ("images/{name}.png", "labels/{name}.png"),
    ]


def test_escaped_braces_in_the_pattern_and_the_template() -> None:
    files = ["img/{a}.png", "gt/{a}_x.png"]
    result = pairs_from_template(files, "img/{{{stem}}}.png", "gt/{{{stem}}}_x.png")
    assert [(p.image, p.label) for p in result.pairs] == [("img/{a}.png", "gt/{a}_x.png")]


def test_label_template_fields_come_from_the_pattern_and_the_builtins() -> None:
    assert parse_label_template("gt/{split}/{dir}/{name}/{stem}", "images/{split}/*.png").fields == (
        "split",
        "dir",
        "name",
        "stem",
    )
    with pytest.raises(InvalidInput) as exc:
        parse_label_template("labels/{split}/{stem}.png", "images/*/{stem}.png")
    assert exc.value.field == "label_template" and "does not define" in exc.value.message


@pytest.mark.parametrize("template", ["/etc/{stem}", "../{stem}.png", "labels/../../{stem}.png", " "])
def test_label_template_must_stay_relative_and_inside_the_root(template: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_label_template(template, "images/{stem}.png")
    assert exc.value.field == "label_template"


def test_a_rendered_label_that_leaves_the_root_is_a_problem_not_a_pair() -> None:
    # '{b}' matches '..' in the file name 'x....png'; the label would climb out of the root
    files = ["images/x....png", "secret.png"]
    result = pairs_from_template(files, "images/{a}.{b}.png", "labels/{b}/{b}/secret.png")
    assert result.pairs == ()
    assert [p.message for p in result.problems] == [
        "label path 'labels/../../secret.png' leaves the dataset root (..)"
    ]


def test_image_pattern_uses_the_same_grammar() -> None:
    with pytest.raises(InvalidInput) as exc:
        compile_image_pattern("images/{stem!r}.png")
    assert exc.value.field == "image_pattern" and "conversion" in exc.value.message
    with pytest.raises(InvalidInput):
        compile_image_pattern("images/{.png")
