"""Hypothesis fuzz of the edit endpoints: mapping edges (PUT, toggle, targets, undo, restore), mapping
rename/delete, taxonomy label edits.

Each example sends a broken (sometimes valid) edit; the server must answer < 500, a refusal must
name the field, and a refused edit must leave the mapping's and taxonomy's API reads unchanged.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.web.api.fuzzing import EDGE_INTS, FUZZ_SETTINGS, check_refusal, nasty_int, nasty_json, nasty_text

Json = dict[str, Any]
JSON = {"Content-Type": "application/json"}
SOURCE_NAMES = ["road", "sidewalk", "building", "vegetation", "sky", "unlabeled", "nope"]

source_name = st.one_of(st.sampled_from(SOURCE_NAMES), nasty_text)
target_id = st.one_of(st.sampled_from([0, 1, 2, 3, 255, 256, -1]), nasty_int)
edge = st.one_of(st.tuples(source_name, target_id).map(list), nasty_json)
base_version = st.one_of(st.sampled_from([None, 1, 2, 0, -1, 2**31, "1"]), nasty_json)


def _optional(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Json]:
    return st.fixed_dictionaries({}, optional=fields)


EDIT_BODIES: dict[str, tuple[str, st.SearchStrategy[Any]]] = {
    "replace": (
        "PUT edges",
        st.one_of(
            nasty_json,
            _optional(edges=st.lists(edge, max_size=5), base_version=base_version, message=nasty_json),
        ),
    ),
    "toggle": (
        "POST edges/toggle",
        st.one_of(
            nasty_json,
            _optional(source_name=source_name, target_id=target_id, on=nasty_json, base_version=base_version),
        ),
    ),
    "targets": (
        "POST targets",
        st.one_of(
            nasty_json,
            _optional(
                source_name=source_name, target_ids=st.lists(target_id, max_size=4), base_version=base_version
            ),
        ),
    ),
    "undo": ("POST undo", st.one_of(nasty_json, _optional(base_version=base_version, message=nasty_json))),
    "restore": (
        "POST versions/1/restore",
        st.one_of(nasty_json, _optional(base_version=base_version, message=nasty_json)),
    ),
    "rename": ("PATCH ", st.one_of(nasty_json, _optional(name=nasty_json, description=nasty_json))),
    "comment": (
        "POST versions/1/comments",
        st.one_of(nasty_json, _optional(body=nasty_json, source_name=nasty_json)),
    ),
}


def _mapping_state(client: TestClient, headers: dict[str, str], mapping_id: int) -> Any:
    base = f"/api/v1/mappings/{mapping_id}"
    return (
        client.get(base, headers=headers).json(),
        client.get(f"{base}/edges", headers=headers).json(),
        client.get(f"{base}/versions?limit=500", headers=headers).json(),
        client.get(f"{base}/versions/1/comments?limit=500", headers=headers).json(),
    )


@FUZZ_SETTINGS
@given(
    kind=st.sampled_from(sorted(EDIT_BODIES)),
    data=st.data(),
    if_match=st.sampled_from([None, "", '"x"', 'W/"0"']),
)
def test_mapping_edit_fuzz(
    client: TestClient,
    editor: dict[str, str],
    mapping: Json,
    kind: str,
    data: st.DataObject,
    if_match: str | None,
) -> None:
    mid = mapping["id"]
    route, strategy = EDIT_BODIES[kind]
    method, _, suffix = route.partition(" ")
    body = data.draw(strategy, label="body")
    headers = {**editor, **JSON}
    if if_match is not None:
        headers["If-Match"] = if_match
    before = _mapping_state(client, editor, mid)
    r = client.request(
        method, f"/api/v1/mappings/{mid}/{suffix}".rstrip("/"), content=json.dumps(body), headers=headers
    )
    check_refusal(r, before, lambda: _mapping_state(client, editor, mid), (200, 201))


@FUZZ_SETTINGS
@given(
    mapping_id=st.one_of(
        st.sampled_from(EDGE_INTS),
        st.text(max_size=12).filter(
            lambda s: "/" not in s and "?" not in s and "#" not in s and "\ud800" not in s
        ),
    )
)
def test_mapping_delete_and_read_fuzz_ids(
    client: TestClient, admin: dict[str, str], mapping: Json, mapping_id: Any
) -> None:
    before = _mapping_state(client, admin, mapping["id"])
    for method in ("GET", "DELETE"):
        r = client.request(method, f"/api/v1/mappings/{quote(str(mapping_id), safe='')}", headers=admin)
        assert r.status_code < 500, (r.status_code, r.text)
        if r.status_code >= 400:
            assert _mapping_state(client, admin, mapping["id"]) == before
        elif method == "DELETE":
            return


label = st.one_of(
    nasty_json,
    st.fixed_dictionaries(
        {"value": st.one_of(st.integers(-2, 300), nasty_int), "name": source_name},
        optional={k: nasty_json for k in ("color", "category", "ignore", "train_id", "category_id")},
    ),
)


@FUZZ_SETTINGS
@given(
    body=st.one_of(
        nasty_json, _optional(name=nasty_json, description=nasty_json, labels=st.lists(label, max_size=4))
    )
)
def test_taxonomy_label_edit_fuzz(
    client: TestClient, editor: dict[str, str], source_id: int, body: Any
) -> None:
    def state() -> Any:
        return client.get(f"/api/v1/taxonomies/{source_id}", headers=editor).json()

    before = state()
    r = client.patch(f"/api/v1/taxonomies/{source_id}", content=json.dumps(body), headers={**editor, **JSON})
    check_refusal(r, before, state, (200,))


def test_stale_base_on_every_edit_is_a_409_that_changes_nothing(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    mid = mapping["id"]
    ok = client.post(
        f"/api/v1/mappings/{mid}/edges/toggle",
        json={"source_name": "vegetation", "target_id": 1, "base_version": 1},
        headers=editor,
    )
    assert ok.status_code == 200, ok.text
    before = _mapping_state(client, editor, mid)
    for suffix, body in [
        ("edges/toggle", {"source_name": "sky", "target_id": 1, "base_version": 1}),
        ("targets", {"source_name": "sky", "target_ids": [1], "base_version": 1}),
        ("undo", {"base_version": 1}),
    ]:
        r = client.post(f"/api/v1/mappings/{mid}/{suffix}", json=body, headers=editor)
        assert r.status_code == 409, (suffix, r.text)
        assert r.json()["error"]["field"] and r.json()["error"]["details"]["current_version"]["number"] == 2
    r = client.put(f"/api/v1/mappings/{mid}/edges", json={"edges": [], "base_version": 1}, headers=editor)
    assert r.status_code == 409
    assert _mapping_state(client, editor, mid) == before
