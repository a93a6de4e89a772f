"""Helpers for the hypothesis fuzz tests of the importers and edit endpoints.

``nasty_text`` / ``nasty_json`` draw the inputs that broke the server before (NUL and other control
characters, lone surrogates, over-long names, integers past the INTEGER columns, floats, wrong
types, nesting). ``check_refusal`` holds every response to the rules of the API: no 5xx, a 4xx in
the shared error shape naming the field, row or column, and nothing changed by a refused request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

EDGE_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "road\n",
    "\x1b[31m",
    "\ud800",
    "x" * 201,
    "x" * 5000,
    "road",
    "sky",
    '"',
    "'",
    ",",
    "{",
    "{stem.__class__}",
    "%00",
    "../../etc/passwd",
]
EDGE_INTS = [
    -(2**63),
    -(2**31) - 1,
    -(2**31),
    -1,
    0,
    1,
    255,
    256,
    65535,
    65536,
    2**31 - 1,
    2**31,
    2**63,
    2**64,
]

nasty_text = st.one_of(st.sampled_from(EDGE_STRINGS), st.text(max_size=30))
nasty_int = st.one_of(st.sampled_from(EDGE_INTS), st.integers())
nasty_scalar = st.one_of(
    st.none(),
    st.booleans(),
    nasty_int,
    st.floats(allow_nan=False, allow_infinity=False),
    nasty_text,
)
nasty_json = st.recursive(
    nasty_scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(nasty_text, inner, max_size=4),
    max_leaves=12,
)


def csv_cell() -> st.SearchStrategy[str]:
    """A CSV cell: mostly plausible values, often broken ones."""
    return st.one_of(
        st.sampled_from(["0", "1", "7", "255", "-1", "True", "False", "#804080", "flat", "road"]),
        st.sampled_from([str(i) for i in EDGE_INTS]),
        nasty_text.filter(lambda s: "\ud800" not in s),
    )


def assert_no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:500])


def assert_error_names_location(response: httpx.Response) -> dict[str, Any]:
    """A 4xx is the shared error shape and says where the problem is (field, row or column)."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field", "row", "column", "details"}, error
    assert error["message"], error
    located = error["field"] or error["row"] is not None or error["column"] is not None
    assert located, error
    return dict(error)


def check_refusal(
    response: httpx.Response, before: Any, take: Callable[[], Any], ok_statuses: tuple[int, ...]
) -> Any:
    """Check one fuzzed request; return the state to compare the next request against."""
    assert_no_server_error(response)
    if response.status_code in ok_statuses:
        return take()
    assert_error_names_location(response)
    assert take() == before, "a refused request changed the database"
    return before
