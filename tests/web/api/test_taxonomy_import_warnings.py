"""labels.csv warnings (junk in unused columns, a name given to several labels) reach the API
and the web pages, as the CLI prints them (issue 13's parity)."""

from __future__ import annotations

from fastapi.testclient import TestClient

LABELS = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,#000000\n"
    "1,road,7,0,flat,x,False,False,#804080\n"
    "2,Bicyclist,2,1,,,,,\n"
    "3,Bicyclist,3,1,,,,,\n"
)


def test_import_answers_the_file_warnings_with_rows_and_columns(
    client: TestClient, editor: dict[str, str]
) -> None:
    files = {"file": ("labels.csv", LABELS.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "CamVid"}, headers=editor)
    assert r.status_code == 201, r.text
    warnings = r.json()["warnings"]
    assert [(w["code"], w["row"], w["column"]) for w in warnings] == [
        ("junk_cell", 3, 6),
        ("duplicate_label_name", 4, 2),
    ]
    assert "file rows 4, 5" in warnings[1]["message"]
    clean = LABELS.replace(",x,", ",1,").replace("3,Bicyclist,3", "3,Pedestrian,3")
    files = {"file": ("labels.csv", clean.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "clean"}, headers=editor)
    assert r.status_code == 201 and r.json()["warnings"] == []
