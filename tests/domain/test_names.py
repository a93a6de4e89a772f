"""Label-name normalisation and the synonym table (pure): properties with hypothesis, then examples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.errors import InvalidInput
from app.domain.names import (
    compact_key,
    default_synonyms,
    leaf_name,
    name_tokens,
    normalise_name,
    parse_synonyms,
    singular,
)

SEPARATORS = "_- ./,&+"
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
lower_names = st.lists(words, min_size=1, max_size=4).flatmap(
    lambda ws: st.lists(st.sampled_from(SEPARATORS), min_size=len(ws) - 1, max_size=len(ws) - 1).map(
        lambda seps: "".join(w + s for w, s in zip(ws, [*seps, ""], strict=True))
    )
)
# A singular English-like noun: ends in a consonant that takes a plain "s" plural.
nouns = st.builds(lambda stem, end: stem + end, st.text(alphabet="aeioubcdfgklmnprt", min_size=2, max_size=6),
                  st.sampled_from("bdfgklmnprt"))  # fmt: skip


@given(st.text(max_size=40))
def test_normalisation_is_idempotent(name: str) -> None:
    once = normalise_name(name)
    assert normalise_name(once) == once
    assert compact_key(once) == compact_key(name)


@given(lower_names)
def test_case_does_not_matter(name: str) -> None:
    assert normalise_name(name.upper()) == normalise_name(name)
    assert normalise_name(name.title().replace(" ", "")).replace(" ", "") == compact_key(name)


@given(lower_names, st.sampled_from(SEPARATORS), st.sampled_from(SEPARATORS))
def test_separators_do_not_matter(name: str, old: str, new: str) -> None:
    assert normalise_name(name.replace(old, new)) == normalise_name(name)


@given(st.lists(nouns, min_size=1, max_size=3))
def test_plural_and_singular_are_one_name(nouns_: list[str]) -> None:
    singular_name = " ".join(nouns_)
    plural_name = " ".join(n + "s" for n in nouns_)
    assert normalise_name(plural_name) == normalise_name(singular_name)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=12))
def test_singular_is_a_fixed_point(token: str) -> None:
    assert singular(singular(token)) == singular(token)


@given(st.lists(lower_names, min_size=1, max_size=4))
def test_the_leaf_of_a_hierarchical_name_is_its_last_part(parts: list[str]) -> None:
    assert leaf_name("--".join(parts)) == parts[-1]


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("SUVPickupTruck", "suv pickup truck"),
        ("Column_Pole", "column pole"),
        ("traffic lights", "traffic light"),
        ("buses", "bus"),
        ("grass", "grass"),
        ("people", "person"),
        ("Obstacles / trash", "obstacle trash"),
        ("rover ", "rover"),
        ("Straße", "strasse"),
        ("", ""),
    ],
)
def test_examples(name: str, normal: str) -> None:
    assert normalise_name(name) == normal


def test_hierarchical_names_and_run_together_names_meet_their_plain_forms() -> None:
    assert leaf_name("construction--flat--road") == "road"
    assert leaf_name("human--rider--bicyclist") == "bicyclist"
    assert compact_key("trafficlight") == compact_key("Traffic_Light") == compact_key("TrafficLights")
    table = default_synonyms()
    assert table.concept("human--rider--bicyclist") == table.concept("Bicyclist") == "bicyclist"
    assert "rider" in table.broader["bicyclist"]
    assert table.concept("object--traffic-sign--front") == table.concept("traffic sign")
    assert table.concept("unlabeled") == table.concept("void") == table.concept("ego vehicle")
    assert table.content_tokens("bikelanesidewalk") == {"bikelane", "sidewalk"}
    assert table.content_tokens("manholesidewalk", frozenset({"manhole"})) == {"manhole", "sidewalk"}
    assert table.content_tokens("Truck_Bus") == {"truck", "bus"}
    assert table.content_tokens("misc. object") == frozenset()  # stop words only
    assert name_tokens("nature--vegetation") == ("nature", "vegetation")


def test_a_custom_table_is_parsed_and_checked() -> None:
    table = parse_synonyms(
        'stop_tokens = ["misc"]\n[[group]]\nnames = ["Rider", "cyclist"]\n'
        '[[group]]\nnames = ["Bikers"]\nbroader = ["rider"]\n'
    )
    assert table.concept("CYCLISTS") == "rider" and table.broader["biker"] == {"rider"}
    assert table.display["rider"] == "Rider" and table.stop_tokens == {"misc"}
    bad = [
        ("[[group]\n", "not valid TOML"),
        ("group = 3\n", "array of tables"),
        ("[[group]]\nnames = []\n", "non-empty names"),
        ('[[group]]\nnames = ["a", ""]\n', "non-empty names"),
        ('[[group]]\nnames = ["car"]\n[[group]]\nnames = ["Cars"]\n', "already a synonym of 'car'"),
        ('[[group]]\nnames = ["car"]\nbroader = ["vehicle"]\n', "name no group: vehicle"),
    ]
    for text, message in bad:
        with pytest.raises(InvalidInput, match=message) as info:
            parse_synonyms(text)
        assert info.value.field == "synonyms"
