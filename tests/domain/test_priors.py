import numpy as np
import pytest

from app.domain.errors import InvalidInput
from app.domain.mapping import VOID, OntologyMapping
from app.domain.priors import compile_priors
from app.domain.taxonomy import Label, Taxonomy

SOURCE = Taxonomy(
    "src",
    (
        Label(0, "unlabeled"),
        Label(3, "road"),
        Label(4, "vegetation"),
        Label(7, "snow"),
        Label(9, "rock"),
        Label(300, "far"),
        Label(-1, "plate"),
    ),
)
TARGET = Taxonomy("tgt", (Label(0, "asphalt"), Label(1, "tree"), Label(2, "bush"), Label(3, "terrain")))
MAPPING = OntologyMapping.from_edges(
    [
        ("unlabeled", VOID),
        ("road", 0),
        ("vegetation", 1),
        ("vegetation", 2),
        ("snow", 3),
        ("snow", VOID),
        ("far", 3),
        ("plate", 0),
        ("ghost", 1),
    ]
)


def test_allowed_matrix_hand_checked():
    p = compile_priors(MAPPING, SOURCE, TARGET)
    assert p.allowed.shape == (302, 5)  # values 0..300, plus the unknown row
    assert p.void_channel == 4 and p.unknown_row == 301
    rows = {v: p.allowed[v].nonzero()[0].tolist() for v in (0, 3, 4, 7, 9, 300, 5, 301)}
    assert rows == {0: [4], 3: [0], 4: [1, 2], 7: [3, 4], 9: [4], 300: [3], 5: [4], 301: [4]}


def test_lookup_table_hand_checked():
    p = compile_priors(MAPPING, SOURCE, TARGET)
    assert p.lut.dtype == np.uint8
    assert [int(p.lut[v]) for v in (0, 3, 4, 7, 9, 300, 5)] == [255, 0, 255, 255, 255, 3, 255]
    g = np.array([[3, 4, 7], [300, 1000, -5]])
    assert p.hard_map(g).tolist() == [[0, 255, 255], [3, 255, 255]]
    assert p.index_of(g).tolist() == [[3, 4, 7], [300, 301, 301]]


def test_arrays_are_read_only():
    p = compile_priors(MAPPING, SOURCE, TARGET)
    with pytest.raises(ValueError):
        p.allowed[0, 0] = True


def test_target_must_be_a_class_list_and_edges_in_range():
    with pytest.raises(InvalidInput, match="0..N-1"):
        compile_priors(MAPPING, SOURCE, SOURCE)
    with pytest.raises(InvalidInput, match="outside target"):
        compile_priors(OntologyMapping.from_edges([("road", 7)]), SOURCE, TARGET)


def test_small_source_taxonomy_still_covers_every_8_bit_value():
    src = Taxonomy("s", (Label(0, "a"), Label(1, "b")))
    p = compile_priors(OntologyMapping.from_edges([("a", 0)]), src, TARGET)
    assert p.allowed.shape[0] == 257
    assert p.allowed[255].nonzero()[0].tolist() == [4]
