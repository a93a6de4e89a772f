"""Size limits of taxonomies and mappings (UNILABEL_MAX_*): every write path refuses oversized input
and edges for labels that do not exist with a 422 stating the limit (or naming the offenders), and
the stored versions stay as they were."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.domain.errors import InvalidInput
from app.domain.limits import DEFAULT_LIMITS
from app.domain.taxonomy import Label, Taxonomy
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from tests import factories
from tests.web.api.conftest import MASTER_CSV, SOURCE_CSV

Headers = dict[str, str]
Json = dict[str, Any]

SMALL = {"max_taxonomy_labels": 8, "max_mapping_edges": 6, "max_name_length": 30}


@pytest.fixture
def small_app(settings: Settings) -> FastAPI:
    """The app with small limits, as UNILABEL_MAX_* would set them."""
    from app.web.main import create_app

    return create_app(settings.model_copy(update=SMALL))


@pytest.fixture
def small(small_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(small_app) as c:
        yield c


def _labels(n: int) -> list[Json]:
    return [{"value": i, "name": f"label-{i}"} for i in range(n)]


def _head(client: TestClient, mapping: Json, headers: Headers) -> Json:
    return dict(client.get(f"/api/v1/mappings/{mapping['id']}/edges", headers=headers).json())


def test_settings_carry_the_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.config import load_settings

    monkeypatch.setenv("UNILABEL_MAX_MAPPING_EDGES", "123")
    monkeypatch.setenv("UNILABEL_MAX_TAXONOMY_LABELS", "45")
    limits = load_settings().limits
    assert (limits.max_mapping_edges, limits.max_taxonomy_labels) == (123, 45)
    assert limits.max_name_length == DEFAULT_LIMITS.max_name_length


class TestTaxonomyLabels:
    def test_create_above_the_cap_is_422_naming_the_limit(
        self, small: TestClient, editor: Headers, snapshot: Callable[[], dict[str, int]]
    ) -> None:
        before = snapshot()
        r = small.post("/api/v1/taxonomies", json={"name": "big", "labels": _labels(9)}, headers=editor)
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["field"] == "labels" and error["details"] == {"limit": 8, "count": 9}
        assert "9 labels" in error["message"] and "at most 8" in error["message"]
        assert snapshot() == before
        ok = small.post("/api/v1/taxonomies", json={"name": "fits", "labels": _labels(8)}, headers=editor)
        assert ok.status_code == 201, ok.text

    def test_import_and_label_edits_above_the_cap_are_422(self, small: TestClient, editor: Headers) -> None:
        header = SOURCE_CSV.splitlines()[0]
        rows = "".join(f"{i},l{i},{i},255,void,0,False,True,#000000\n" for i in range(9))
        files = {"file": ("labels.csv", f"{header}\n{rows}".encode(), "text/csv")}
        r = small.post("/api/v1/taxonomies/import", files=files, data={"name": "csv"}, headers=editor)
        assert r.status_code == 422 and "at most 8" in r.json()["error"]["message"]
        tid = small.post(
            "/api/v1/taxonomies", json={"name": "t", "labels": _labels(8)}, headers=editor
        ).json()["id"]
        r = small.patch(f"/api/v1/taxonomies/{tid}", json={"labels": _labels(9)}, headers=editor)
        assert r.status_code == 422 and r.json()["error"]["details"]["count"] == 9
        assert len(small.get(f"/api/v1/taxonomies/{tid}", headers=editor).json()["labels"]) == 8

    def test_long_names_are_422(self, small: TestClient, editor: Headers) -> None:
        long = "x" * 31
        r = small.post("/api/v1/taxonomies", json={"name": long, "labels": _labels(1)}, headers=editor)
        assert r.status_code == 422 and r.json()["error"]["details"] == {"limit": 30, "count": 31}
        r = small.post(
            "/api/v1/taxonomies", json={"name": "ok", "labels": [{"value": 0, "name": long}]}, headers=editor
        )
        assert r.status_code == 422 and "label name" in r.json()["error"]["message"]

    def test_default_cap_holds_through_the_service(self, session: Session) -> None:
        labels = tuple(Label(i, f"l{i}") for i in range(DEFAULT_LIMITS.max_taxonomy_labels + 1))
        with pytest.raises(InvalidInput) as exc:
            taxonomy_service.create_taxonomy(session, taxonomy=Taxonomy(name="huge", labels=labels))
        assert exc.value.details == {"limit": 2000, "count": 2001}


@pytest.fixture
def small_mapping(small: TestClient, editor: Headers) -> Json:
    files = {"file": ("labels.csv", SOURCE_CSV.encode(), "text/csv")}
    r = small.post("/api/v1/taxonomies/import", files=files, data={"name": "city"}, headers=editor)
    assert r.status_code == 201, r.text
    files = {"file": ("master_labels_tiny.csv", MASTER_CSV.encode(), "text/csv")}
    data = {"source_taxonomy_id": str(r.json()["id"])}
    r = small.post("/api/v1/mappings/import", files=files, data=data, headers=editor)
    assert r.status_code == 201, r.text
    return dict(r.json()["mapping"])


class TestMappingEdges:
    def test_put_above_the_cap_is_422_and_the_head_stays(
        self, small: TestClient, editor: Headers, small_mapping: Json
    ) -> None:
        head = _head(small, small_mapping, editor)
        edges = [[name, t] for name in ("road", "sidewalk", "building", "sky") for t in (0, 1)]  # 8 > 6
        r = small.put(
            f"/api/v1/mappings/{small_mapping['id']}/edges",
            json={"base_version": head["number"], "edges": edges},
            headers=editor,
        )
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["field"] == "edges" and error["details"] == {"limit": 6, "count": 8}
        assert "8 edges" in error["message"] and "at most 6" in error["message"]
        assert _head(small, small_mapping, editor) == head

    def test_toggle_past_the_cap_is_422_but_removing_is_allowed(
        self, small: TestClient, editor: Headers, small_mapping: Json
    ) -> None:
        url = f"/api/v1/mappings/{small_mapping['id']}/edges/toggle"

        def toggle(name: str, target: int, base: int) -> Any:
            body = {"source_name": name, "target_id": target, "base_version": base}
            return small.post(url, json=body, headers=editor)

        r = toggle("sky", 1, 1)  # 5 edges -> 6, the cap
        assert r.status_code == 200 and r.json()["edge_count"] == 6
        r = toggle("road", 1, 2)
        assert r.status_code == 422 and "7 edges" in r.json()["error"]["message"]
        r = toggle("sky", 1, 2)
        assert r.status_code == 200 and r.json()["edge_count"] == 5

    def test_unknown_source_names_are_422_naming_them(
        self, client: TestClient, editor: Headers, mapping: Json, snapshot: Callable[[], dict[str, int]]
    ) -> None:
        before = snapshot()
        edges = [["road", 0], *([f"nope-{i}", 0] for i in range(7))]
        r = client.put(
            f"/api/v1/mappings/{mapping['id']}/edges",
            json={"base_version": 1, "edges": edges},
            headers=editor,
        )
        assert r.status_code == 422
        error = r.json()["error"]
        assert error["field"] == "source_name" and error["details"]["count"] == 7
        assert "7 source label name(s)" in error["message"] and "'nope-0'" in error["message"]
        assert "and 2 more" in error["message"] and "'city'" in error["message"]
        assert snapshot() == before

    def test_create_and_targets_with_unknown_sources_are_422(
        self, client: TestClient, editor: Headers, mapping: Json
    ) -> None:
        body = {
            "name": "new",
            "source_taxonomy_id": mapping["source_taxonomy_id"],
            "target_taxonomy_id": mapping["target_taxonomy_id"],
            "edges": [["roadd", 0]],
        }
        r = client.post("/api/v1/mappings", json=body, headers=editor)
        assert r.status_code == 422 and "'roadd'" in r.json()["error"]["message"]
        r = client.post(
            f"/api/v1/mappings/{mapping['id']}/targets",
            json={"source_name": "roadd", "target_ids": [0], "base_version": 1},
            headers=editor,
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "source_name"

    def test_import_reports_unknown_names_and_stores_no_edge_for_them(
        self, client: TestClient, editor: Headers, mapping: Json
    ) -> None:
        text = (
            "trainId,name\n0,drivable,road,roadd\n1,obstacle,building\n2,sky,sky,skyy\n255,void,unlabeled\n"
        )
        files = {"file": ("master_labels_tiny.csv", text.encode(), "text/csv")}
        r = client.post(
            "/api/v1/mappings/import", files=files, data={"mapping_id": str(mapping["id"])}, headers=editor
        )
        assert r.status_code == 201, r.text
        unknown = [f for f in r.json()["validation"]["findings"] if f["code"] == "unknown_source_name"]
        assert [(f["source_name"], f["severity"]) for f in unknown] == [("roadd", "error"), ("skyy", "error")]
        assert "did you mean 'sky'" in (unknown[1]["suggestion"] or "")
        edges = _head(client, mapping, editor)["edges"]
        assert ["road", 0] in edges and not {e[0] for e in edges} & {"roadd", "skyy"}

    def test_restore_respects_the_cap(self, small: TestClient, editor: Headers, small_mapping: Json) -> None:
        mid = small_mapping["id"]
        v1 = _head(small, small_mapping, editor)  # 5 edges
        r = small.put(f"/api/v1/mappings/{mid}/edges", json={"base_version": 1, "edges": []}, headers=editor)
        assert r.status_code == 200
        r = small.post(f"/api/v1/mappings/{mid}/versions/1/restore", json={"base_version": 2}, headers=editor)
        assert r.status_code == 200 and r.json()["content_hash"] == v1["content_hash"]


def test_a_200000_edge_put_is_refused_before_any_edge_is_looked_at(
    settings: Settings,
    editor: Headers,
    mapping: Json,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The original report: one PUT of 200,000 edges for unknown labels (the default limits).

    The count is checked before any edge is resolved against the taxonomies (the old code resolved
    them all and stored the version); how long it takes is a benchmark's business, not a test's.
    """
    from app.db import repositories
    from app.web.main import create_app

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("edges were resolved before the count was checked")

    big_body = settings.model_copy(update={"max_upload_bytes": 20_000_000})
    edges = [[f"unknown-label-{i:06d}", i % 3] for i in range(200_000)]
    with TestClient(create_app(big_body)) as c:
        head = _head(c, mapping, editor)
        with monkeypatch.context() as patched:  # the label names and ids an edge is checked against
            patched.setattr(repositories, "label_names", never)
            patched.setattr(repositories, "label_values", never)
            r = c.put(
                f"/api/v1/mappings/{mapping['id']}/edges",
                json={"base_version": 1, "edges": edges},
                headers=editor,
            )
        assert r.status_code == 422 and r.json()["error"]["details"] == {"limit": 20_000, "count": 200_000}
        assert _head(c, mapping, editor) == head
    with session_factory() as s:
        assert mapping_service.current_version(s, mapping["id"]).number == 1


def test_a_version_above_a_lowered_cap_may_still_shrink() -> None:
    DEFAULT_LIMITS.check_edge_count(25_000, before=30_000)  # a step towards the limit is allowed
    with pytest.raises(InvalidInput):
        DEFAULT_LIMITS.check_edge_count(25_000, before=24_000)


def test_default_edge_cap_holds_through_the_service(session: Session) -> None:
    source = factories.make_taxonomy(session, labels=tuple(Label(i, f"s{i}") for i in range(200)))
    target = factories.make_class_list(session, classes=tuple((i, f"t{i}") for i in range(101)))
    edges = tuple((f"s{i}", t) for i in range(200) for t in range(101))  # 20,200 real edges
    with pytest.raises(InvalidInput) as exc:
        factories.make_mapping(session, source=source, target=target, edges=edges)
    assert exc.value.details == {"limit": 20_000, "count": 20_200}


def test_edges_stored_before_the_check_may_be_kept_or_removed(session: Session) -> None:
    """A database written before this check may hold an edge for an unknown label: edits still work."""
    mapping = factories.make_mapping(session)
    head = mapping_service.current_version(session, mapping.id)
    legacy = mapping_service.version_edges(head).with_edge("roadd", 0)
    head.edges_json, head.content_hash = legacy.canonical_json(), legacy.content_hash()
    session.flush()
    v2 = mapping_service.toggle_edge(
        session, mapping_id=mapping.id, source_name="sky", target_id=1, base_version_id=head.id
    )
    assert ("roadd", 0) in mapping_service.version_edges(v2).edges  # kept
    v3 = mapping_service.toggle_edge(
        session, mapping_id=mapping.id, source_name="roadd", target_id=0, base_version_id=v2.id
    )
    assert ("roadd", 0) not in mapping_service.version_edges(v3).edges  # removed
    with pytest.raises(InvalidInput):  # but never added again
        mapping_service.restore_version(
            session, mapping_id=mapping.id, version_id=v2.id, base_version_id=v3.id
        )
