"""Taxonomy API over HTTP: CRUD, import/export, pagination, bad uploads."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.api.conftest import SOURCE_CSV


def _taxonomy_json(name: str = "json-tax") -> dict:  # type: ignore[type-arg]
    return {
        "name": name,
        "description": "d",
        "labels": [{"value": 0, "name": "a"}, {"value": 1, "name": "b"}],
    }


def test_create_read_update_delete(client: TestClient, editor: dict[str, str]) -> None:
    r = client.post("/api/v1/taxonomies", json=_taxonomy_json(), headers=editor)
    assert r.status_code == 201, r.text
    tid = r.json()["id"]
    assert r.json()["is_class_list"] is True
    r = client.get(f"/api/v1/taxonomies/{tid}", headers=editor)
    assert [lb["name"] for lb in r.json()["labels"]] == ["a", "b"]
    r = client.patch(f"/api/v1/taxonomies/{tid}", json={"name": "renamed"}, headers=editor)
    assert r.json()["name"] == "renamed"
    assert client.delete(f"/api/v1/taxonomies/{tid}", headers=editor).status_code == 204
    r = client.get(f"/api/v1/taxonomies/{tid}", headers=editor)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_list_paginates(client: TestClient, editor: dict[str, str]) -> None:
    for i in range(3):
        client.post("/api/v1/taxonomies", json=_taxonomy_json(f"t{i}"), headers=editor)
    r = client.get("/api/v1/taxonomies?limit=2&offset=1", headers=editor)
    body = r.json()
    assert (body["total"], body["limit"], body["offset"]) == (3, 2, 1)
    assert [t["name"] for t in body["items"]] == ["t1", "t2"]
    assert client.get("/api/v1/taxonomies?limit=0", headers=editor).status_code == 422


def test_import_and_export_labels_csv(client: TestClient, editor: dict[str, str], source_id: int) -> None:
    r = client.get(f"/api/v1/taxonomies/{source_id}/export?format=labels_csv", headers=editor)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    files = {"file": ("again.csv", r.content, "text/csv")}
    again = client.post("/api/v1/taxonomies/import", files=files, data={"name": "again"}, headers=editor)
    assert again.status_code == 201
    a = client.get(f"/api/v1/taxonomies/{source_id}", headers=editor).json()["labels"]
    b = client.get(f"/api/v1/taxonomies/{again.json()['id']}", headers=editor).json()["labels"]
    assert a == b


def test_json_export_imports_again(client: TestClient, editor: dict[str, str], source_id: int) -> None:
    r = client.get(f"/api/v1/taxonomies/{source_id}/export?format=json", headers=editor)
    files = {"file": ("copy.json", r.content, "application/json")}
    again = client.post("/api/v1/taxonomies/import", files=files, data={"name": "copy"}, headers=editor)
    assert again.status_code == 201, again.text


def test_duplicate_name_conflicts(client: TestClient, editor: dict[str, str]) -> None:
    client.post("/api/v1/taxonomies", json=_taxonomy_json(), headers=editor)
    r = client.post("/api/v1/taxonomies", json=_taxonomy_json(), headers=editor)
    assert r.status_code == 409 and r.json()["error"]["field"] == "name"


def test_bad_uploads_are_refused_and_change_nothing(
    client: TestClient, editor: dict[str, str], source_id: int, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    cases = {
        "empty": (b"", 422),
        "not utf-8": ("0,name,id\n0,straße,1\n".encode("latin-1"), 422),
        "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", 422),
        "huge": (b"x" * 300_000, 413),
        "not csv": (b"hello world, this is not a label table\n", 422),
    }
    for label, (data, status) in cases.items():
        files = {"file": ("labels.csv", data, "text/csv")}
        r = client.post(
            "/api/v1/taxonomies/import", files=files, data={"name": f"bad {label}"}, headers=editor
        )
        assert r.status_code == status, (label, r.text)
        error = r.json()["error"]
        assert error["message"] and set(error) == {"code", "message", "field", "row", "column", "details"}
    assert snapshot() == before


def test_csv_error_names_row_and_column(client: TestClient, editor: dict[str, str]) -> None:
    bad = SOURCE_CSV + "6,car,notanumber,13,vehicle,7,True,False,#00008e\n"
    files = {"file": ("labels.csv", bad.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "bad"}, headers=editor)
    assert r.status_code == 422
    assert r.json()["error"]["row"] == 8


def test_request_validation_errors_use_the_same_shape(client: TestClient, editor: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/taxonomies", json={"name": "x", "labels": [{"value": "a", "name": "b"}]}, headers=editor
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "labels[0].value"
