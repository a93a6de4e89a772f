"""Text hygiene rules shared by every edge (pure domain layer).

Names end up in database columns, file names and HTTP headers (exports), so they must not carry
control characters; NUL in particular is refused by PostgreSQL and by file systems, and lone
surrogates cannot be encoded as UTF-8.
"""

from __future__ import annotations

import unicodedata

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
LINE_BREAKS_AND_TABS = frozenset("\n\r\t")


def control_characters(value: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """The distinct control characters (and lone surrogates) in ``value`` as ``U+XXXX``, sorted."""
    return sorted(
        {f"U+{ord(c):04X}" for c in value if c not in allowed and unicodedata.category(c) in ("Cc", "Cs")}
    )


def describe_control_characters(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """``None`` when ``value`` is clean, else a message naming the characters found."""
    bad = control_characters(value, allowed)
    return f"must not contain control characters (found {', '.join(bad)})" if bad else None
