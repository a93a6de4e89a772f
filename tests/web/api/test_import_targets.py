"""Target taxonomies of master_labels imports over HTTP: a typo never silently creates a taxonomy,
the differing classes are named, the user chooses explicitly, and names are never changed silently
(issue 11; issue 13's parity with the CLI)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.web.api.conftest import MASTER_CSV

Json = dict  # type: ignore[type-arg]
TYPO_CSV = MASTER_CSV.replace("1,obstacle,building", "1,obstacel,building")
OTHER_CSV = "trainId,name\n0,ground,road,sidewalk\n1,thing,building\n255,void,unlabeled\n"


def _import(
    client: TestClient,
    headers: dict[str, str],
    text: str,
    filename: str = "master_labels_tiny.csv",
    **data: str,
):  # type: ignore[no-untyped-def]
    files = {"file": (filename, text.encode(), "text/csv")}
    return client.post("/api/v1/mappings/import", files=files, data=data, headers=headers)


def _taxonomy_names(client: TestClient, headers: dict[str, str]) -> list[str]:
    return [t["name"] for t in client.get("/api/v1/taxonomies", headers=headers).json()["items"]]


def test_a_typo_in_a_target_class_is_refused_with_the_differing_names_and_the_closest_taxonomy(
    client: TestClient, editor: dict[str, str], mapping: Json, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    r = _import(
        client,
        editor,
        TYPO_CSV,
        "master_labels_other.csv",
        source_taxonomy_id=str(mapping["source_taxonomy_id"]),
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "target_classes_differ"
    assert "class 1 is 'obstacel' in the file, 'obstacle' in the taxonomy" in error["message"]
    details = error["details"]
    assert details["closest_taxonomy"] == {
        "id": mapping["target_taxonomy_id"],
        "name": "tiny",
        "label_count": 3,
    }
    assert details["differences"] == [{"id": 1, "file_name": "obstacel", "taxonomy_name": "obstacle"}]
    assert details["choices"] == {
        "use_existing": {"target_taxonomy_id": mapping["target_taxonomy_id"]},
        "create_new": {"create_target": True},
    }
    assert snapshot() == before  # no taxonomy, no mapping


def test_choosing_the_closest_taxonomy_reads_the_file_with_its_names(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    target_id = mapping["target_taxonomy_id"]
    r = _import(
        client,
        editor,
        TYPO_CSV,
        source_taxonomy_id=str(mapping["source_taxonomy_id"]),
        target_taxonomy_id=str(target_id),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["target_taxonomy_id"] == target_id and body["target_created"] is False
    assert body["target_names_corrected"] == [{"id": 1, "file_name": "obstacel", "taxonomy_name": "obstacle"}]
    assert body["target_outcome"] == (
        "target taxonomy 'tiny' chosen; the file's names were read as its names: "
        "class 1 'obstacel' read as 'obstacle'"
    )
    assert ["building", 1] in client.get(
        f"/api/v1/mappings/{body['mapping']['id']}/versions/1", headers=editor
    ).json()["edges"]
    exported = client.get(f"/api/v1/mappings/{body['mapping']['id']}/export", headers=editor).text
    assert "obstacel" not in exported and "1,obstacle,building" in exported  # the fixed file
    assert _taxonomy_names(client, editor).count("tiny") == 1 and len(_taxonomy_names(client, editor)) == 2


def test_creating_a_new_taxonomy_must_be_asked_for_and_is_reported(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    source = str(mapping["source_taxonomy_id"])
    r = _import(client, editor, TYPO_CSV, source_taxonomy_id=source, create_target="true")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["target_created"] is True and body["target_taxonomy_name"] == "tiny (2)"
    assert (
        body["target_outcome"]
        == "target taxonomy created as 'tiny (2)': 'tiny' is taken by a different class list"
    )
    # the same typo file again now reuses the identical class list: no question asked
    again = _import(client, editor, TYPO_CSV, source_taxonomy_id=source, name="again")
    assert again.status_code == 201 and again.json()["target_taxonomy_name"] == "tiny (2)"


def test_a_different_class_list_is_not_close_and_creates_its_taxonomy(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    r = _import(
        client,
        editor,
        OTHER_CSV,
        "master_labels_coarse.csv",
        source_taxonomy_id=str(mapping["source_taxonomy_id"]),
    )
    assert r.status_code == 201, r.text
    assert r.json()["target_outcome"] == "target taxonomy 'coarse' created"


def test_bad_target_choices_are_refused(
    client: TestClient, editor: dict[str, str], mapping: Json, snapshot: Callable[[], dict[str, int]]
) -> None:
    source, target = str(mapping["source_taxonomy_id"]), str(mapping["target_taxonomy_id"])
    before = snapshot()
    both = _import(
        client, editor, TYPO_CSV, source_taxonomy_id=source, target_taxonomy_id=target, create_target="true"
    )
    assert both.status_code == 422 and both.json()["error"]["field"] == "create_target"
    other_ids = _import(client, editor, OTHER_CSV, source_taxonomy_id=source, target_taxonomy_id=target)
    assert other_ids.status_code == 422
    assert other_ids.json()["error"]["field"] == "target_taxonomy_id"
    assert "class 2 'sky' is missing from the file" in other_ids.json()["error"]["message"]
    not_a_class_list = _import(client, editor, TYPO_CSV, source_taxonomy_id=source, target_taxonomy_id=source)
    assert not_a_class_list.status_code == 422
    missing = _import(client, editor, TYPO_CSV, source_taxonomy_id=source, target_taxonomy_id="999")
    assert missing.status_code == 404
    into = _import(client, editor, TYPO_CSV, mapping_id=str(mapping["id"]), target_taxonomy_id=target)
    assert into.status_code == 422 and into.json()["error"]["field"] == "target_taxonomy_id"
    assert snapshot() == before


def test_importing_into_a_mapping_names_the_differing_classes(
    client: TestClient, editor: dict[str, str], mapping: Json, snapshot: Callable[[], dict[str, int]]
) -> None:
    before = snapshot()
    r = _import(client, editor, TYPO_CSV, mapping_id=str(mapping["id"]))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["message"] == (
        "the file's target classes differ from those of 'tiny': class 1 is 'obstacel' in the file, "
        "'obstacle' in the taxonomy"
    )
    assert error["details"]["differences"] == [
        {"id": 1, "file_name": "obstacel", "taxonomy_name": "obstacle"}
    ]
    assert snapshot() == before


def test_a_given_target_name_is_honoured_or_refused_and_reuse_is_reported(
    client: TestClient, editor: dict[str, str], mapping: Json
) -> None:
    source = str(mapping["source_taxonomy_id"])
    taken = _import(client, editor, OTHER_CSV, source_taxonomy_id=source, target_name="tiny")
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "target_name"
    assert "'tiny' already exists with a different class list" in taken.json()["error"]["message"]
    reused = _import(client, editor, MASTER_CSV, source_taxonomy_id=source, target_name="cs19", name="again")
    assert reused.status_code == 201
    assert reused.json()["target_outcome"] == (
        "target taxonomy 'tiny' reused: identical class list; the name 'cs19' was not applied"
    )
    named = _import(client, editor, OTHER_CSV, source_taxonomy_id=source, target_name="coarse 2")
    assert named.json()["target_taxonomy_name"] == "coarse 2"
    assert named.json()["target_outcome"] == "target taxonomy 'coarse 2' created"
