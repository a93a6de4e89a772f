"""Label-name normalisation and the curated synonym table (pure domain layer).

Names are a weak signal for mapping suggestions: they say what a label is *called*, not what its
pixels are. This module turns a name into comparable keys and looks them up in a small table of
synonyms and broader terms for driving and off-road scenes (``app/domain/data/synonyms.toml``,
documented in that file; pass another table's text to :func:`parse_synonyms` to use your own).

Normalisation (:func:`name_tokens`):
    * Unicode NFKC, camelCase split (``SUVPickupTruck`` -> suv pickup truck), case folded;
    * every run of characters other than letters (of any script) and digits separates tokens
      (``_ - . / , & +`` and spaces);
    * each token singularised (``poles`` -> pole, ``buses`` -> bus, ``people`` -> person).
    Hierarchical names (Mapillary's ``construction--flat--road``) have a *leaf*: the part after the
    last ``--`` (:func:`leaf_name`). :func:`compact_key` joins the tokens without spaces, so that
    ``traffic light``, ``traffic_light``, ``TrafficLight`` and ``trafficlight`` are one key.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from app.domain.errors import InvalidInput

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[\W_]+")
HIERARCHY_SEPARATOR = "--"

# Irregular plurals seen in scene labels; the values are stable under singularisation.
_IRREGULAR = {
    "people": "person",
    "persons": "person",
    "children": "child",
    "men": "man",
    "women": "woman",
    "leaves": "leaf",
    "knives": "knife",
    "mice": "mouse",
    "feet": "foot",
    "geese": "goose",
}
_KEEP_S = ("ss", "us", "is")  # grass, bus, axis: not plurals
_ES_AFTER = ("ches", "shes", "xes", "zes", "sses", "uses")


def _singular_once(token: str) -> str:
    if token in _IRREGULAR:
        return _IRREGULAR[token]
    if len(token) < 4 or not token.endswith("s"):
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(_ES_AFTER):
        return token[:-2]
    if token.endswith(_KEEP_S):
        return token
    return token[:-1]


def singular(token: str) -> str:
    """A lower-case token in the singular (a fixed point: ``singular(singular(t)) == singular(t)``)."""
    for _ in range(len(token) + 1):
        shorter = _singular_once(token)
        if shorter == token:
            break
        token = shorter
    return token


@lru_cache(maxsize=8192)
def name_tokens(name: str) -> tuple[str, ...]:
    """The normalised tokens of a label name (see the module docstring); may be empty."""
    text = unicodedata.normalize("NFKC", name)
    text = _CAMEL.sub(" ", text).casefold()
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return tuple(singular(t) for t in _SEPARATORS.split(text) if t)


def normalise_name(name: str) -> str:
    """The tokens joined by single spaces: ``'Column_Pole'`` -> ``'column pole'``."""
    return " ".join(name_tokens(name))


def compact_key(name: str) -> str:
    """The tokens joined without spaces, so that ``'traffic light'`` == ``'trafficlight'``."""
    return "".join(name_tokens(name))


def leaf_name(name: str) -> str:
    """The most specific part of a hierarchical name: ``human--rider--bicyclist`` -> ``bicyclist``."""
    parts = [p for p in name.split(HIERARCHY_SEPARATOR) if p.strip()]
    return parts[-1] if parts else name


def _segment(token: str, vocabulary: frozenset[str]) -> tuple[str, ...]:
    """Split a run-together token into known words (``manholesidewalk`` -> manhole sidewalk).

    Only when the whole token is unknown and splits completely into words of 3+ letters; the split
    with the fewest words wins. Returns ``(token,)`` otherwise.
    """
    if token in vocabulary or len(token) < 6:
        return (token,)
    best: list[tuple[str, ...] | None] = [()] + [None] * len(token)
    for end in range(3, len(token) + 1):
        for start in range(0, end - 2):
            head = best[start]
            word = token[start:end]
            known = head is not None and (word in vocabulary or singular(word) in vocabulary)
            if known and head is not None and (best[end] is None or len(head) + 1 < len(best[end] or ())):
                best[end] = (*head, singular(word))
    found = best[len(token)]
    return found if found and len(found) > 1 else (token,)


@dataclass(frozen=True, slots=True)
class SynonymTable:
    """Concepts by compact key, their broader concepts, and tokens too generic to match on.

    ``concept_of``: compact key of a name -> canonical concept (a group's first name, compacted);
    ``broader``: concept -> broader concepts (``bicyclist`` -> ``rider``);
    ``stop_tokens``: tokens ignored when names are compared token by token (``other``, ``misc``);
    ``words``: every token of every listed name (used to split run-together names).
    """

    concept_of: dict[str, str] = field(default_factory=dict)
    broader: dict[str, frozenset[str]] = field(default_factory=dict)
    stop_tokens: frozenset[str] = frozenset()
    display: dict[str, str] = field(default_factory=dict)  # concept -> its canonical name
    words: frozenset[str] = frozenset()

    def concept(self, name: str) -> str | None:
        """The concept of a name: the whole name, else its hierarchical suffixes, longest first
        (``object--traffic-sign--front`` -> traffic sign front -> front)."""
        parts = [p for p in name.split(HIERARCHY_SEPARATOR) if p.strip()] or [name]
        for i in range(len(parts)):
            key = compact_key(" ".join(parts[i:]))
            if key in self.concept_of:
                return self.concept_of[key]
        return None

    def content_tokens(self, name: str, vocabulary: frozenset[str] = frozenset()) -> frozenset[str]:
        """The leaf's words as concepts where they form one (longest phrase first), run-together
        words split on ``words | vocabulary``, stop tokens removed."""
        known = self.words | vocabulary
        tokens = [w for t in name_tokens(leaf_name(name)) for w in _segment(t, known)]
        out: set[str] = set()
        i = 0
        while i < len(tokens):
            for width in (3, 2, 1):
                key = "".join(tokens[i : i + width])
                if len(tokens[i : i + width]) == width and key in self.concept_of:
                    out.add(self.concept_of[key])
                    i += width
                    break
            else:
                if tokens[i] not in self.stop_tokens:
                    out.add(tokens[i])
                i += 1
        return frozenset(out)


def _names(value: object, where: str, *, required: bool = True) -> list[str]:
    ok = isinstance(value, list) and all(isinstance(v, str) and compact_key(v) for v in value)
    if not ok or (required and not value):
        raise InvalidInput(f"{where} must be a list of non-empty names", field="synonyms")
    assert isinstance(value, list)
    return [str(v) for v in value]


def parse_synonyms(text: str) -> SynonymTable:
    """Parse a synonym table (TOML; the format is described in ``data/synonyms.toml``)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"synonym table is not valid TOML: {exc}", field="synonyms") from None
    concept_of: dict[str, str] = {}
    broader: dict[str, frozenset[str]] = {}
    display: dict[str, str] = {}
    groups = data.get("group", [])
    if not isinstance(groups, list):
        raise InvalidInput("'group' must be an array of tables ([[group]])", field="synonyms")
    for i, group in enumerate(groups, start=1):
        if not isinstance(group, dict):
            raise InvalidInput(f"group {i} must be a table with 'names'", field="synonyms")
        names = _names(group.get("names"), f"group {i} 'names'")
        concept = compact_key(names[0])
        if concept in display:
            raise InvalidInput(
                f"{names[0]!r} (group {i}) is already a synonym of {display[concept]!r}", field="synonyms"
            )
        display[concept] = names[0]
        for name in names:
            key = compact_key(name)
            if concept_of.get(key, concept) != concept:
                raise InvalidInput(
                    f"{name!r} (group {i}) is already a synonym of {display[concept_of[key]]!r}",
                    field="synonyms",
                )
            concept_of[key] = concept
        broader[concept] = frozenset(
            compact_key(b) for b in _names(group.get("broader", []), f"group {i} 'broader'", required=False)
        )
    for concept, wider in broader.items():
        unknown = sorted(w for w in wider if w not in display)
        if unknown:
            raise InvalidInput(
                f"broader terms of {display[concept]!r} name no group: {', '.join(unknown)}", field="synonyms"
            )
    stop = frozenset(
        singular(t) for t in _names(data.get("stop_tokens", []), "'stop_tokens'", required=False)
    )
    words = frozenset(t for g in groups for n in g["names"] for t in name_tokens(n) if len(t) >= 3)
    return SynonymTable(concept_of, broader, stop, display, words)


def default_synonyms() -> SynonymTable:
    """The curated table shipped in ``app/domain/data/synonyms.toml``."""
    text = resources.files("app.domain").joinpath("data", "synonyms.toml").read_text(encoding="utf-8")
    return parse_synonyms(text)
