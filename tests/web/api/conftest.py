"""Helpers for the HTTP API tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.db.base import Base

SOURCE_CSV = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,#000000\n"
    "1,road,7,0,flat,1,False,False,#804080\n"
    "2,sidewalk,8,1,flat,1,False,False,#f423e8\n"
    "3,building,11,2,construction,2,False,False,#464646\n"
    "4,vegetation,21,8,nature,4,False,False,#6b8e23\n"
    "5,sky,23,10,sky,5,False,False,#4682b4\n"
)
MASTER_CSV = "trainId,name\n0,drivable,road,sidewalk\n1,obstacle,building\n2,sky,sky\n255,void,unlabeled\n"


@pytest.fixture
def snapshot(session_factory: sessionmaker[Session]) -> Callable[[], dict[str, int]]:
    """Row counts of every table, to prove a refused request changed nothing."""

    def take() -> dict[str, int]:
        with session_factory() as s:
            return {
                t.name: s.scalar(select(func.count()).select_from(t)) or 0
                for t in Base.metadata.sorted_tables
            }

    return take


@pytest.fixture
def source_id(client: TestClient, editor: dict[str, str]) -> int:
    files = {"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "city"}, headers=editor)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.fixture
def mapping(client: TestClient, editor: dict[str, str], source_id: int) -> dict:  # type: ignore[type-arg]
    files = {"file": ("master_labels_tiny.csv", MASTER_CSV.encode(), "text/csv")}
    r = client.post(
        "/api/v1/mappings/import", files=files, data={"source_taxonomy_id": str(source_id)}, headers=editor
    )
    assert r.status_code == 201, r.text
    return dict(r.json()["mapping"])
