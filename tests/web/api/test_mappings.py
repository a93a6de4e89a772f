"""Mapping API over HTTP: import/export, edits with 409 on stale bases, versions, diff, review."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.api.conftest import MASTER_CSV

Json = dict  # type: ignore[type-arg]


def _toggle(client: TestClient, mid: int, headers: dict[str, str], base: int, name: str, target: int):  # type: ignore[no-untyped-def]
    body = {"source_name": name, "target_id": target, "base_version": base}
    return client.post(f"/api/v1/mappings/{mid}/edges/toggle", json=body, headers=headers)


def test_import_creates_mapping_target_and_report(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    assert mapping["current_version"]["number"] == 1
    target = client.get(f"/api/v1/taxonomies/{mapping['target_taxonomy_id']}", headers=editor).json()
    assert target["name"] == "tiny" and [lb["name"] for lb in target["labels"]] == [
        "drivable",
        "obstacle",
        "sky",
    ]
    report = client.get(f"/api/v1/mappings/{mapping['id']}/validation", headers=editor).json()
    unmapped = {f["source_name"] for f in report["findings"] if f["code"] == "unmapped_source"}
    assert unmapped == {"vegetation"}


def test_export_import_round_trip(client: TestClient, editor: dict[str, str], mapping: Json) -> None:
    r = client.get(f"/api/v1/mappings/{mapping['id']}/export", headers=editor)
    assert r.status_code == 200 and r.text.splitlines()[0] == "trainId,name"
    files = {"file": ("x.csv", r.content, "text/csv")}
    again = client.post(
        "/api/v1/mappings/import",
        files=files,
        data={"source_taxonomy_id": str(mapping["source_taxonomy_id"])},
        headers=editor,
    ).json()
    assert again["target_created"] is False
    assert again["version"]["content_hash"] == mapping["current_version"]["content_hash"]


def test_toggle_then_stale_toggle_gets_409_with_current_edges(
    client: TestClient, editor: dict[str, str], mapping: Json, snapshot: Callable[[], dict[str, int]]
) -> None:
    mid = mapping["id"]
    r = _toggle(client, mid, editor, 1, "vegetation", 1)
    assert r.status_code == 200 and r.json()["number"] == 2
    assert ["vegetation", 1] in r.json()["edges"]
    assert r.headers["etag"] == f'"{r.json()["content_hash"]}"'
    before = snapshot()
    stale = _toggle(client, mid, editor, 1, "sky", 255)
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "stale_version" and error["field"] == "base_version"
    assert error["details"]["current_version"]["number"] == 2
    assert ["vegetation", 1] in error["details"]["current_version"]["edges"]
    assert snapshot() == before


def test_if_match_hash_works_as_base(client: TestClient, editor: dict[str, str], mapping: Json) -> None:
    mid = mapping["id"]
    etag = client.get(f"/api/v1/mappings/{mid}/edges", headers=editor).headers["etag"]
    body = {"source_name": "road", "target_ids": [0, 1]}
    r = client.post(f"/api/v1/mappings/{mid}/targets", json=body, headers={**editor, "If-Match": etag})
    assert r.status_code == 200
    r = client.post(
        f"/api/v1/mappings/{mid}/targets",
        json=body | {"target_ids": []},
        headers={**editor, "If-Match": etag},
    )
    assert r.status_code == 409


def test_edit_without_base_is_422(client: TestClient, editor: dict[str, str], mapping: Json) -> None:
    r = client.post(
        f"/api/v1/mappings/{mapping['id']}/edges/toggle",
        json={"source_name": "sky", "target_id": 1},
        headers=editor,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "base_version"


def test_bulk_replace_undo_versions_and_diff(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    mid = mapping["id"]
    r = client.put(
        f"/api/v1/mappings/{mid}/edges",
        json={"base_version": 1, "edges": [["road", 0], ["sky", 2]]},
        headers=editor,
    )
    assert r.status_code == 200 and r.json()["edge_count"] == 2
    diff = client.get(f"/api/v1/mappings/{mid}/diff", headers=editor).json()
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert ["sidewalk", 0] in diff["removed"] and diff["added"] == []
    r = client.post(f"/api/v1/mappings/{mid}/undo", json={"base_version": 2}, headers=editor)
    assert r.json()["number"] == 3 and r.json()["content_hash"] == mapping["current_version"]["content_hash"]
    versions = client.get(f"/api/v1/mappings/{mid}/versions?limit=2", headers=editor).json()
    assert versions["total"] == 3 and [v["number"] for v in versions["items"]] == [3, 2]
    assert versions["items"][0]["author"].startswith("editor")
    r = client.post(f"/api/v1/mappings/{mid}/versions/2/restore", json={"base_version": 3}, headers=editor)
    assert r.json()["number"] == 4 and r.json()["edge_count"] == 2
    one = client.get(f"/api/v1/mappings/{mid}/versions/1", headers=editor).json()
    assert ["sidewalk", 0] in one["edges"]
    by_hash = client.get(
        f"/api/v1/mappings/{mid}/versions/by-hash/{one['content_hash']}", headers=editor
    ).json()
    assert by_hash["content_hash"] == one["content_hash"]


def test_unknown_target_is_422_and_changes_nothing(
    client: TestClient, editor: dict[str, str], mapping: Json, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    r = client.put(
        f"/api/v1/mappings/{mapping['id']}/edges",
        json={"base_version": 1, "edges": [["road", 77]]},
        headers=editor,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "target_id"
    assert snapshot() == before


def test_review_flow(
    client: TestClient, editor: dict[str, str], reviewer: dict[str, str], mapping: Json
) -> None:
    base = f"/api/v1/mappings/{mapping['id']}/versions/1"
    assert client.post(f"{base}/approve", json={}, headers=reviewer).status_code == 409  # still a draft
    assert (
        client.post(f"{base}/submit", json={"message": "ready"}, headers=editor).json()["status"]
        == "in_review"
    )
    assert client.post(f"{base}/approve", json={}, headers=editor).status_code == 403
    r = client.post(f"{base}/approve", json={"message": "lgtm"}, headers=reviewer)
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["reviewed_by"]
    assert client.post(f"{base}/reject", json={}, headers=reviewer).status_code == 409
    c = client.post(
        f"{base}/comments",
        json={"body": "why is vegetation void?", "source_name": "vegetation"},
        headers=editor,
    )
    assert c.status_code == 201
    comments = client.get(f"{base}/comments", headers=editor).json()
    assert [x["kind"] for x in comments["items"]] == ["submit", "approve", "comment"]
    approved = client.get(f"/api/v1/mappings/{mapping['id']}/versions?status=approved", headers=editor).json()
    assert approved["total"] == 1


def test_import_as_new_version_of_existing_mapping(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    changed = MASTER_CSV.replace("2,sky,sky", "2,sky,sky,vegetation")
    files = {"file": ("m.csv", changed.encode(), "text/csv")}
    r = client.post(
        "/api/v1/mappings/import", files=files, data={"mapping_id": str(mapping["id"])}, headers=editor
    )
    assert r.status_code == 201 and r.json()["version"]["number"] == 2 and not r.json()["mapping_created"]
    stale = client.post(
        "/api/v1/mappings/import",
        files=files,
        data={"mapping_id": str(mapping["id"]), "base_version": "1"},
        headers=editor,
    )
    assert stale.status_code == 409


def test_bad_mapping_uploads_change_nothing(
    client: TestClient, editor: dict[str, str], source_id: int, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    for data, status in [
        (b"", 422),
        (b"\xff\xfe\x00t\x00r", 422),
        (b"trainId,name\n0\n", 422),
        (b"trainId,name\n0,a\n2,b\n", 422),
        (b"a" * 300_000, 413),
    ]:
        files = {"file": ("m.csv", data, "text/csv")}
        r = client.post(
            "/api/v1/mappings/import",
            files=files,
            data={"source_taxonomy_id": str(source_id)},
            headers=editor,
        )
        assert r.status_code == status, (data[:20], r.text)
    assert snapshot() == before


def test_create_list_rename_delete(
    client: TestClient, editor: dict[str, str], admin: dict[str, str], mapping: Json
) -> None:
    body = {
        "name": "by hand",
        "source_taxonomy_id": mapping["source_taxonomy_id"],
        "target_taxonomy_id": mapping["target_taxonomy_id"],
        "edges": [["road", 0]],
    }
    created = client.post("/api/v1/mappings", json=body, headers=editor)
    assert created.status_code == 201
    mid = created.json()["id"]
    listed = client.get(
        f"/api/v1/mappings?source_taxonomy_id={mapping['source_taxonomy_id']}", headers=editor
    ).json()
    assert listed["total"] == 2 and all(m["current_version"] for m in listed["items"])
    assert (
        client.patch(f"/api/v1/mappings/{mid}", json={"name": "renamed"}, headers=editor).json()["name"]
        == "renamed"
    )
    assert client.delete(f"/api/v1/mappings/{mid}", headers=editor).status_code == 403
    assert client.delete(f"/api/v1/mappings/{mid}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/mappings/{mid}", headers=editor).status_code == 404
