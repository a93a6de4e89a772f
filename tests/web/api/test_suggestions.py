"""``GET /api/v1/mappings/{id}/suggestions`` over HTTP: evidence from names and from other *approved*
mappings to the same target, roles checked before input, bad input a 4xx naming the field."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

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
