"""Path templates with named fields only, e.g. ``labels/{split}/{stem}_labelids.png``. Pure domain layer.

The grammar is deliberately tiny, so that a template typed by a user can never run code or burn CPU
(``str.format`` would evaluate ``{stem.__class__.__mro__}`` and pad ``{stem:>100000000}``):

* literal text, copied as is;
* ``{field}``: ``field`` is an identifier (``[A-Za-z_][A-Za-z0-9_]*``) from an allowed set;
* ``{{`` and ``}}``: a literal ``{`` and ``}``.

Anything else inside braces (attribute access ``.``, indexing ``[``, a conversion ``!r``, a format
spec ``:``, a positional ``{0}`` or an empty ``{}``), an unclosed ``{`` and a single ``}`` are
errors that name the character position (counted from 1) and the offending text. Rendering is plain
string concatenation: a field value is inserted literally, braces included, and is never parsed again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from app.domain.errors import InvalidInput

MAX_TEMPLATE_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Field:
    """A ``{name}`` placeholder of a parsed template."""

    name: str


Part = str | Field


@dataclass(frozen=True, slots=True)
class PathTemplate:
    """A parsed template: literal strings and :class:`Field` placeholders, in order."""

    text: str
    parts: tuple[Part, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        """Field names in order of appearance (repeats kept)."""
        return tuple(p.name for p in self.parts if isinstance(p, Field))

    def render(self, values: Mapping[str, str]) -> str:
        """The template with every field replaced by ``values[name]`` (plain substitution).

        Raises:
            KeyError: a field has no value (the parser's ``allowed`` set prevents this).
        """
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.parts)


def _is_identifier_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def _is_identifier_char(ch: str) -> bool:
    return _is_identifier_start(ch) or ("0" <= ch <= "9")


_FORBIDDEN = {
    ".": "attribute access",
    "[": "indexing",
    "!": "a conversion such as !r",
    ":": "a format spec",
}


def _describe(allowed: Collection[str] | None) -> str:
    if allowed is None:
        return "a field name such as {stem}"
    return "one of " + ", ".join(f"{{{n}}}" for n in sorted(allowed))


def parse_path_template(
    text: str,
    *,
    allowed: Collection[str] | None = None,
    what: str = "label template",
    field: str = "label_template",
    unknown: str = "is not a known field",
) -> PathTemplate:
    """Parse ``text``; every field must be in ``allowed`` (None: any identifier).

    Args:
        text: the template.
        allowed: the field names the caller can fill, or None to accept any identifier.
        what: how error messages name the template ("label template", "image pattern").
        field: the input field named by the error (``InvalidInput.field``).
        unknown: why a field outside ``allowed`` is refused (completes "'{x}' ...").

    Raises:
        InvalidInput: with a message naming the position (from 1) and the offending text.
    """
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise InvalidInput(
            f"{what} is {len(text)} characters long; at most {MAX_TEMPLATE_LENGTH} are allowed", field=field
        )
    parts: list[Part] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text.startswith(("{{", "}}"), i):
            literal.append(text[i])
            i += 2
        elif text[i] == "}":
            raise _error(text, what, field, i, "a single '}' (write '}}' for a literal brace)")
        elif text[i] != "{":
            literal.append(text[i])
            i += 1
        else:
            name, i = _placeholder(text, i, allowed, what, field, unknown)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(Field(name))
    if literal:
        parts.append("".join(literal))
    return PathTemplate(text, tuple(parts))


def _error(text: str, what: str, field: str, index: int, message: str) -> InvalidInput:
    position = index + 1
    return InvalidInput(
        f"{what} {text!r}, character {position}: {message}",
        field=field,
        column=position,
        details={"template": text, "position": position},
    )


def _placeholder(
    text: str, start: int, allowed: Collection[str] | None, what: str, field: str, unknown: str
) -> tuple[str, int]:
    """The field name of the placeholder opening at ``text[start] == "{"`` and the index after it."""
    n = len(text)
    j = start + 1
    if j < n and _is_identifier_start(text[j]):
        while j < n and _is_identifier_char(text[j]):
            j += 1
    name = text[start + 1 : j]
    close = text.find("}", start + 1)
    shown = text[start : close + 1] if close != -1 else text[start:]
    if j < n and text[j] == "}":
        if not name:
            raise _error(text, what, field, start, f"'{{}}' has no field name; use {_describe(allowed)}")
        if allowed is not None and name not in allowed:
            raise _error(text, what, field, start, f"'{{{name}}}' {unknown}; use {_describe(allowed)}")
        return name, j + 1
    if close == -1:
        message = f"'{shown}' is not closed (write '{{{{' for a literal brace)"
    elif name and text[j] in _FORBIDDEN:
        message = f"'{shown}' uses {_FORBIDDEN[text[j]]}, which is not allowed; write just {{{name}}}"
    elif not name and text[j].isdigit():
        message = f"'{shown}' is a positional field; use {_describe(allowed)}"
    else:
        message = f"'{shown}' is not a field name; use {_describe(allowed)}"
    raise _error(text, what, field, start, message)
