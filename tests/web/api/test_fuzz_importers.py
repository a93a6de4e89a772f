"""Hypothesis fuzz of every importer: labels.csv, taxonomy JSON (file and body), master_labels CSV.

Each example sends a broken (sometimes valid) input; the server must answer < 500, a refusal must
name the field, row or column, and a refused request must leave every API read unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from tests.web.api.conftest import MASTER_CSV, SOURCE_CSV
from tests.web.api.fuzzing import (
    FUZZ_SETTINGS,
    assert_error_names_location,
    check_refusal,
    csv_cell,
    nasty_json,
    nasty_text,
)

JSON = {"Content-Type": "application/json"}
LABELS_HEADER = "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color"
VALID_LABEL = {"value": 0, "name": "a", "color": "#000000", "category": "flat", "ignore": False}
LABEL_KEYS = ["value", "name", "color", "category", "ignore", "train_id", "category_id", "has_instances"]


def _taxonomies(client: TestClient, headers: dict[str, str]) -> list[Any]:
    rows = client.get("/api/v1/taxonomies?limit=500", headers=headers).json()["items"]
    return [client.get(f"/api/v1/taxonomies/{t['id']}", headers=headers).json() for t in rows]


def _mappings(client: TestClient, headers: dict[str, str]) -> list[Any]:
    rows = client.get("/api/v1/mappings?limit=500", headers=headers).json()["items"]
    return [(m, client.get(f"/api/v1/mappings/{m['id']}/edges", headers=headers).json()) for m in rows]


def _state(client: TestClient, headers: dict[str, str]) -> Any:
    return _taxonomies(client, headers), _mappings(client, headers)


def _csv_text(rows: list[list[str]]) -> str:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value

    return "\n".join(",".join(cell(v) for v in row) for row in rows) + "\n"


labels_csv_rows = st.lists(st.lists(csv_cell(), min_size=0, max_size=11), min_size=1, max_size=6)


@FUZZ_SETTINGS
@given(rows=labels_csv_rows, keep_header=st.booleans(), name=nasty_text.filter(lambda s: "\ud800" not in s))
def test_labels_csv_import_fuzz(
    client: TestClient, editor: dict[str, str], rows: list[list[str]], keep_header: bool, name: str
) -> None:
    before = _state(client, editor)
    text = (LABELS_HEADER + "\n" if keep_header else "") + _csv_text(rows)
    files = {"file": ("labels.csv", text.encode("utf-8", "surrogatepass"), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": name}, headers=editor)
    check_refusal(r, before, lambda: _state(client, editor), (201,))


def test_labels_csv_errors_name_row_and_column(client: TestClient, editor: dict[str, str]) -> None:
    cases = {
        "control character in a name": ("6,car\x07,26,13,vehicle,7,True,False,#00008e", 8, 2),
        "trainId past INTEGER": ("6,car,26,99999999999,vehicle,7,True,False,#00008e", 8, 4),
        "category too long": ("6,car,26,13," + "v" * 101 + ",7,True,False,#00008e", 8, 5),
    }
    for label, (row, line, column) in cases.items():
        files = {"file": ("labels.csv", (SOURCE_CSV + row + "\n").encode(), "text/csv")}
        r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "x"}, headers=editor)
        error = assert_error_names_location(r)
        assert r.status_code == 422 and (error["row"], error["column"]) == (line, column), (label, error)


label_json = st.one_of(
    nasty_json,
    st.fixed_dictionaries({}, optional={k: nasty_json for k in LABEL_KEYS}),
    st.builds(lambda k, v: {**VALID_LABEL, k: v}, st.sampled_from(LABEL_KEYS), nasty_json),
)
taxonomy_json = st.one_of(
    nasty_json,
    st.fixed_dictionaries(
        {"name": nasty_text, "labels": st.lists(label_json, max_size=4)},
        optional={"description": nasty_json},
    ),
)


@FUZZ_SETTINGS
@given(document=taxonomy_json)
def test_taxonomy_json_file_import_fuzz(client: TestClient, editor: dict[str, str], document: Any) -> None:
    before = _state(client, editor)
    data = json.dumps(document).encode()
    files = {"file": ("taxonomy.json", data, "application/json")}
    r = client.post("/api/v1/taxonomies/import", files=files, headers=editor)
    check_refusal(r, before, lambda: _state(client, editor), (201,))


@FUZZ_SETTINGS
@given(document=taxonomy_json)
def test_taxonomy_json_body_fuzz(client: TestClient, editor: dict[str, str], document: Any) -> None:
    before = _state(client, editor)
    r = client.post("/api/v1/taxonomies", content=json.dumps(document), headers={**editor, **JSON})
    check_refusal(r, before, lambda: _state(client, editor), (201,))


def test_untyped_label_fields_are_refused(client: TestClient, editor: dict[str, str]) -> None:
    bad = {
        "color": 123,
        "category": {"nested": "object"},
        "ignore": "false",
        "train_id": 2**31,
        "has_instances": "yes",
        "name": "a\x00b",
    }
    for key, value in bad.items():
        document = {"name": f"t-{key}", "labels": [{**VALID_LABEL, key: value}]}
        files = {"file": ("t.json", json.dumps(document).encode(), "application/json")}
        r = client.post("/api/v1/taxonomies/import", files=files, headers=editor)
        error = assert_error_names_location(r)
        assert r.status_code == 422 and error["field"] == f"labels[0].{key}", (key, error)
        if key in ("ignore", "has_instances"):
            continue  # the JSON API converts "false"/"yes" the way pydantic does; the file is strict
        r = client.post("/api/v1/taxonomies", json=document, headers=editor)
        error = assert_error_names_location(r)
        assert r.status_code == 422 and error["field"] == f"labels[0].{key}", (key, error)
    assert client.get("/api/v1/taxonomies", headers=editor).json()["total"] == 0


master_rows = st.lists(st.lists(csv_cell(), min_size=0, max_size=5), min_size=0, max_size=6)


@FUZZ_SETTINGS
@given(
    rows=master_rows,
    keep_header=st.booleans(),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "name": nasty_text,
            "target_name": nasty_text,
            "message": nasty_text,
            "mapping_id": st.sampled_from(["1", "0", "-1", "2147483648", "x", ""]),
            "base_version": st.sampled_from(["1", "0", "99", "2147483648", "x"]),
        },
    ),
)
def test_master_labels_import_fuzz(
    client: TestClient,
    editor: dict[str, str],
    source_id: int,
    rows: list[list[str]],
    keep_header: bool,
    fields: dict[str, str],
) -> None:
    before = _state(client, editor)
    text = ("trainId,name\n" if keep_header else "") + _csv_text(rows)
    files = {"file": ("master_labels_fuzz.csv", text.encode(), "text/csv")}
    data = {k: v for k, v in fields.items() if "\ud800" not in v}
    data["source_taxonomy_id"] = str(source_id)
    r = client.post("/api/v1/mappings/import", files=files, data=data, headers=editor)
    check_refusal(r, before, lambda: _state(client, editor), (201,))


def test_master_labels_import_still_works(client: TestClient, editor: dict[str, str], source_id: int) -> None:
    files = {"file": ("master_labels_tiny.csv", MASTER_CSV.encode(), "text/csv")}
    r = client.post(
        "/api/v1/mappings/import", files=files, data={"source_taxonomy_id": str(source_id)}, headers=editor
    )
    assert r.status_code == 201, r.text


def test_exports_survive_control_characters_in_a_stored_name(
    client: TestClient, editor: dict[str, str], mapping: dict[str, Any], session_factory: Any
) -> None:
    """Rows stored before names were checked may hold control characters: downloads still work."""
    from app.db.models import Mapping, Taxonomy

    with session_factory() as s:
        s.get(Taxonomy, mapping["source_taxonomy_id"]).name = "city\r\nX-Injected: 1\x07"
        s.get(Mapping, mapping["id"]).name = "map\x1b[31m\x7f"  # PostgreSQL cannot hold NUL at all
        s.commit()
    for url in (
        f"/api/v1/taxonomies/{mapping['source_taxonomy_id']}/export",
        f"/api/v1/mappings/{mapping['id']}/export",
    ):
        r = client.get(url, headers=editor)
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        assert disposition.isprintable() and disposition.isascii(), disposition
        assert "X-Injected" not in r.headers
