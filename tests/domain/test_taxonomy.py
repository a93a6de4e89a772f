import pytest

from app.domain.errors import InvalidInput
from app.domain.taxonomy import Label, Taxonomy, taxonomy_from_json, taxonomy_to_json


def _tax() -> Taxonomy:
    return Taxonomy(
        "demo",
        (
            Label(0, "road", "#804080", "flat"),
            Label(1, "tree ", "6B8E23"),  # trailing space is part of the name
            Label(255, "unlabeled", None, ignore=True),
            Label(-1, "license plate", "#00008e"),
        ),
    )


def test_lookup_by_name_is_exact_including_whitespace():
    tax = _tax()
    assert tax.label_by_name("tree ").value == 1
    assert not tax.has_name("tree")
    with pytest.raises(InvalidInput, match="'tree' is not in taxonomy"):
        tax.label_by_name("tree")


def test_values_exclude_no_pixel_labels_and_colours_are_normalised():
    tax = _tax()
    assert tax.values == (0, 1, 255)
    assert tax.colors == {0: "#804080", 1: "#6b8e23"}
    assert not tax.is_class_list()


def test_duplicate_names_are_kept_and_listed_duplicate_values_are_refused():
    # the authors' CamVid labels.csv names 'Bicyclist' at ids 2 and 3
    tax = Taxonomy("t", (Label(0, "a"), Label(1, "b"), Label(2, "a")))
    assert tax.names == ("a", "b", "a")
    assert [lb.value for lb in tax.duplicate_names["a"]] == [0, 2]
    assert [lb.value for lb in tax.labels_named("a")] == [0, 2]
    assert tax.label_by_name("a").value == 0
    assert list(tax.duplicate_names) == ["a"]
    with pytest.raises(InvalidInput) as exc:
        Taxonomy("t", (Label(3, "a"), Label(3, "b")))
    assert exc.value.details["duplicate_values"] == [3]
    # -1 may repeat: such labels never appear as pixels
    Taxonomy("t", (Label(-1, "a"), Label(-1, "b")))


@pytest.mark.parametrize("value", [-2, 65536, "3", 1.5])
def test_bad_pixel_values_are_refused(value):
    with pytest.raises(InvalidInput, match="pixel value"):
        Label(value, "x")  # type: ignore[arg-type]


def test_bad_colour_is_refused():
    with pytest.raises(InvalidInput, match="colour"):
        Label(0, "x", "#12345")


def test_json_round_trip():
    tax = _tax()
    assert taxonomy_from_json(taxonomy_to_json(tax)) == tax


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "t"}, "labels"),
        ({"name": "t", "labels": [{"value": "x", "name": "a"}]}, "labels[0].value"),
        ({"name": "t", "labels": [{"value": 1}]}, "labels[0].name"),
        ({"name": "t", "labels": [{"value": 1, "name": "a", "colour": "#fff"}]}, "labels[0]"),
        ({"name": "", "labels": [{"value": 1, "name": "a"}]}, "name"),
        ([], None),
    ],
)
def test_bad_json_names_the_field(data, field):
    with pytest.raises(InvalidInput) as exc:
        taxonomy_from_json(data)
    assert exc.value.field == field


def test_class_list_and_id2label():
    tax = Taxonomy("t", (Label(0, "a"), Label(1, "b")))
    assert tax.is_class_list()
    assert tax.id2label() == {0: "a", 1: "b"}
    with pytest.raises(InvalidInput):
        _tax().id2label()
