"""``GET /api/v1/mappings/{id}/suggestions`` over HTTP: evidence from names and from other *approved*
mappings to the same target, roles checked before input, bad input a 4xx naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.api.test_reviews import _race

Json = dict[str, Any]
Headers = dict[str, str]

TARGET = (
    "trainId,name\n0,road,{road}\n1,person,{person}\n2,rider,{rider}\n3,vegetation,{veg}\n255,void,{void}\n"
)


def _labels(*names: str) -> str:
    rows = "".join(f"{i},{n},{i},,,,,,\n" for i, n in enumerate(names))
    return "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n" + rows


def _taxonomy(client: TestClient, headers: Headers, name: str, *labels: str) -> int:
    files = {"file": ("labels.csv", _labels(*labels).encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": name}, headers=headers)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _mapping(client: TestClient, headers: Headers, source_id: int, name: str, **cells: str) -> Json:
    text = TARGET.format(**{"road": "", "person": "", "rider": "", "veg": "", "void": "", **cells})
    files = {"file": ("master_labels_drive.csv", text.encode(), "text/csv")}
    data = {"source_taxonomy_id": str(source_id), "name": name}
    r = client.post("/api/v1/mappings/import", files=files, data=data, headers=headers)
    assert r.status_code == 201, r.text
    return dict(r.json()["mapping"])


def _approve(client: TestClient, mapping_id: int, editor: Headers, reviewer: Headers) -> None:
    base = f"/api/v1/mappings/{mapping_id}/versions/1"
    assert client.post(f"{base}/submit", json={}, headers=editor).status_code == 200
    r = client.post(f"{base}/approve", json={}, headers=reviewer)
    assert r.status_code == 200, r.text


def _setup(client: TestClient, editor: Headers, reviewer: Headers) -> int:
    """Two approved mappings say Bicyclist -> rider, a draft says -> person; the new mapping is empty."""
    for name in ("camvid", "kitti"):
        src = _taxonomy(client, editor, name, "Bicyclist", "Road", "Tree")
        mid = _mapping(client, editor, src, f"{name}-drive", road="Road", rider="Bicyclist", veg="Tree")
        _approve(client, int(mid["id"]), editor, reviewer)
    draft_src = _taxonomy(client, editor, "draft-src", "bicyclist")
    _mapping(client, editor, draft_src, "draft-drive", person="bicyclist")
    new_src = _taxonomy(client, editor, "new", "bicyclists", "road", "unlabeled", "zzz")
    return int(_mapping(client, editor, new_src, "new-drive", void="unlabeled")["id"])


def _by_label(body: Json) -> dict[str, Json]:
    return {x["source_name"]: x for x in body["labels"]}


def test_suggestions_rank_agreeing_approved_mappings_above_names_and_show_the_evidence(
    client: TestClient, editor: Headers, reviewer: Headers, viewer: Headers
) -> None:
    mid = _setup(client, editor, reviewer)
    r = client.get(f"/api/v1/mappings/{mid}/suggestions", headers=viewer)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"] == 1
    assert sorted(m["name"] for m in body["evidence_mappings"]) == ["camvid-drive", "kitti-drive"]  # no draft
    labels = _by_label(body)
    rider = labels["bicyclists"]["suggestions"][0]
    assert (rider["target_name"], rider["in_current"]) == ("rider", False)
    assert rider["key"] == "2:bicyclists"
    evidence = {e["kind"]: e for e in rider["evidence"]}
    assert "mapped to `rider` in 2 of 2 other approved mappings" in evidence["mapping"]["message"]
    assert evidence["mapping"]["facts"] == {"agreeing": 2, "mappings": 2, "share": 1.0}
    assert any("camvid-drive v1: `Bicyclist`" in ref for ref in evidence["mapping"]["refs"])
    assert "person" not in [s["target_name"] for s in labels["bicyclists"]["suggestions"]]  # draft ignored
    road = labels["road"]["suggestions"][0]
    assert road["target_name"] == "road" and {e["kind"] for e in road["evidence"]} == {"mapping", "name"}
    name_only = next(e for e in road["evidence"] if e["kind"] == "name")
    mapping_only = next(e for e in road["evidence"] if e["kind"] == "mapping")
    assert name_only["strength"] < mapping_only["strength"]  # names are the weaker signal
    void = labels["unlabeled"]
    assert void["current_targets"] == [255] and void["suggestions"][0]["target_id"] == 255
    assert void["suggestions"][0]["in_current"] is True
    assert labels["zzz"]["suggestions"] == []


def test_limit_min_score_and_label_filter(client: TestClient, editor: Headers, reviewer: Headers) -> None:
    mid = _setup(client, editor, reviewer)
    url = f"/api/v1/mappings/{mid}/suggestions"
    one = client.get(url, params={"label": "bicyclists", "limit": 1}, headers=editor).json()
    assert [x["source_name"] for x in one["labels"]] == ["bicyclists"]
    assert len(one["labels"][0]["suggestions"]) == 1
    strong = client.get(url, params={"min_score": 0.9}, headers=editor).json()
    assert all(s["score"] >= 0.9 for x in strong["labels"] for s in x["suggestions"])
    assert _by_label(strong)["road"]["suggestions"]  # road: two mappings and the name agree


def test_anonymous_gets_401_before_its_bad_parameters_are_looked_at(
    client: TestClient, editor: Headers, reviewer: Headers
) -> None:
    mid = _setup(client, editor, reviewer)
    for params in ({}, {"limit": 0}, {"min_score": "x"}):
        r = client.get(f"/api/v1/mappings/{mid}/suggestions", params=params)
        assert r.status_code == 401, (params, r.text)
    assert client.get("/api/v1/mappings/0/suggestions").status_code == 401


def test_unknown_mapping_is_404_and_bad_parameters_are_422_naming_the_field(
    client: TestClient, editor: Headers, reviewer: Headers
) -> None:
    mid = _setup(client, editor, reviewer)
    assert client.get("/api/v1/mappings/999999/suggestions", headers=editor).status_code == 404
    url = f"/api/v1/mappings/{mid}/suggestions"
    cases = [
        ({"limit": 0}, "limit"),
        ({"limit": 21}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"min_score": 1.5}, "min_score"),
        ({"min_score": -0.1}, "min_score"),
        ({"label": "no such label"}, "label"),
        ({"label": "bad\x00name"}, "label"),
    ]
    for params, field in cases:
        r = client.get(url, params=params, headers=editor)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field, (params, r.json())
    assert client.get("/api/v1/mappings/abc/suggestions", headers=editor).status_code == 422


def _suggested(client: TestClient, mid: int, headers: Headers, **params: Any) -> dict[str, list[str]]:
    body = client.get(f"/api/v1/mappings/{mid}/suggestions", params=params, headers=headers).json()
    return {x["source_name"]: [s["target_name"] for s in x["suggestions"]] for x in body["labels"]}


def test_a_rejected_suggestion_is_left_out_until_the_rejection_is_undone(
    client: TestClient, editor: Headers, reviewer: Headers, admin: Headers
) -> None:
    mid = _setup(client, editor, reviewer)
    url = f"/api/v1/mappings/{mid}/suggestions/2:bicyclists/reject"
    assert _suggested(client, mid, editor)["bicyclists"][0] == "rider"
    r = client.post(url, headers=editor)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["key"], body["source_name"], body["target_id"], body["mapping_id"]) == (
        "2:bicyclists",
        "bicyclists",
        2,
        mid,
    )
    assert body["author"] and body["created_at"]
    assert client.post(url, headers=editor).status_code == 200  # already rejected: idempotent
    assert "rider" not in _suggested(client, mid, editor)["bicyclists"]
    flagged = client.get(
        f"/api/v1/mappings/{mid}/suggestions",
        params={"include_rejected": True, "label": "bicyclists"},
        headers=editor,
    ).json()["labels"][0]["suggestions"]
    assert [(s["target_name"], s["rejected"]) for s in flagged][0] == ("rider", True)
    assert all(not s["rejected"] for s in flagged[1:])
    assert client.delete(url, headers=editor).status_code == 204
    assert client.delete(url, headers=editor).status_code == 404
    assert _suggested(client, mid, editor)["bicyclists"][0] == "rider"
    assert client.post(url, headers=editor).status_code == 201
    assert client.delete(f"/api/v1/mappings/{mid}", headers=admin).status_code == 204  # rejections go too


def test_keys_with_slashes_and_void_can_be_rejected(client: TestClient, editor: Headers) -> None:
    src = _taxonomy(client, editor, "slashy", "Obstacles / trash", "unlabeled")
    mid = int(_mapping(client, editor, src, "slashy-drive")["id"])
    r = client.post(f"/api/v1/mappings/{mid}/suggestions/255:Obstacles%20%2F%20trash/reject", headers=editor)
    assert r.status_code == 201, r.text
    assert r.json()["source_name"] == "Obstacles / trash" and r.json()["target_id"] == 255
    r = client.post(f"/api/v1/mappings/{mid}/suggestions/255:unlabeled/reject", headers=editor)
    assert r.status_code == 201
    assert _suggested(client, mid, editor)["unlabeled"] == []  # void was its only suggestion


def test_reject_checks_the_role_first_then_the_mapping_then_the_key(
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    viewer: Headers,
    snapshot: Callable[[], dict[str, int]],
) -> None:
    mid = _setup(client, editor, reviewer)
    before = snapshot()
    base = f"/api/v1/mappings/{mid}/suggestions"
    assert client.post(f"{base}/2:bicyclists/reject").status_code == 401
    assert client.post(f"{base}/nonsense/reject").status_code == 401
    assert client.post(f"{base}/2:bicyclists/reject", headers=viewer).status_code == 403
    assert client.post(f"{base}/nonsense/reject", headers=viewer).status_code == 403
    assert client.delete(f"{base}/2:bicyclists/reject", headers=viewer).status_code == 403
    assert (
        client.post("/api/v1/mappings/999999/suggestions/2:bicyclists/reject", headers=editor).status_code
        == 404
    )
    for key in ("nonsense", "x:bicyclists", "300:bicyclists", "7:bicyclists", "2:no such label", "2:"):
        r = client.post(f"{base}/{key}/reject", headers=editor)
        assert r.status_code == 422, (key, r.text)
        assert r.json()["error"]["field"] == "key", (key, r.json())
    assert client.delete(f"{base}/nonsense/reject", headers=editor).status_code == 422
    assert snapshot() == before


@pytest.mark.timeout(240)
def test_racing_rejections_of_one_edge_store_it_once(
    app: FastAPI,
    client: TestClient,
    editor: Headers,
    reviewer: Headers,
    snapshot: Callable[[], dict[str, int]],
) -> None:
    mid = _setup(client, editor, reviewer)
    before = snapshot()["suggestion_rejection"]
    url = f"/api/v1/mappings/{mid}/suggestions/2:bicyclists/reject"
    responses = _race(app, [("POST", url, {})] * 6, [editor] * 6)
    assert not [r for r in responses if isinstance(r, Exception)], responses
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 5 + [201], [r.text for r in responses]
    assert snapshot()["suggestion_rejection"] == before + 1
