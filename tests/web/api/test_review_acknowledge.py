"""JSON API: approving a version with harmless errors needs their keys in ``acknowledged``."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_approve_names_the_findings_to_acknowledge_then_accepts_them(
    client: TestClient, editor: dict[str, str], reviewer: dict[str, str], source_id: int
) -> None:
    text = "trainId,name\n0,drivable,road\n1,sky,skyy\n255,void,unlabeled\n"
    files = {"file": ("master_labels_t.csv", text.encode(), "text/csv")}
    r = client.post(
        "/api/v1/mappings/import", files=files, data={"source_taxonomy_id": str(source_id)}, headers=editor
    )
    assert r.status_code == 201, r.text
    base = f"/api/v1/mappings/{r.json()['mapping']['id']}/versions/1"
    assert client.post(f"{base}/submit", json={}, headers=editor).status_code == 200
    refused = client.post(f"{base}/approve", json={}, headers=reviewer)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["field"] == "acknowledged" and error["details"]["acknowledge"] == [
        "unknown_source_name|skyy|"
    ]
    (finding,) = [f for f in error["details"]["validation"]["findings"] if f["severity"] == "error"]
    assert finding["fix"] == ["sky"] and finding["targets"] == [1]
    ok = client.post(
        f"{base}/approve", json={"acknowledged": ["unknown_source_name|skyy|"]}, headers=reviewer
    )
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    bad = client.post(f"{base}/approve", json={"acknowledged": "x"}, headers=reviewer)
    assert bad.status_code == 422
