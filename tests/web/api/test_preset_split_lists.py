"""Split list files of a preset applied through the API: a RELLIS-3D miniature with the devkit's
train.lst / val.lst / test.lst gets its pairs' splits from them (scan per split, preset report,
the dataset's split names); without the lists nothing gets a split; lists naming missing images
are reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests import preset_layouts as L

Headers = dict[str, str]
RELLIS = [("void", 0, ""), ("dirt", 1, ""), ("grass", 3, "")]


@pytest.fixture
def data(settings: Settings, client: TestClient, editor: Headers) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    files = {"file": ("labels.csv", L.labels_csv(RELLIS).encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "rellis-3d"}, headers=editor)
    assert r.status_code == 201, r.text
    return settings.data_dir


def _register(client: TestClient, editor: Headers, root: Path) -> Any:
    r = client.post("/api/v1/datasets", json={"preset": "rellis-3d", "root": str(root)}, headers=editor)
    assert r.status_code == 201, r.text
    return r.json()


def _splits(report: dict[str, Any]) -> list[tuple[str, int, int]]:
    return [(s["split"], s["images"], s["pairs"]) for s in report["splits"]]


@pytest.mark.parametrize(
    ("lists_in", "leading_slash"),
    [("", False), ("", True), ("splits", False)],
    ids=["beside", "slash", "above"],
)
def test_rellis_lst_files_give_each_pair_its_split(
    client: TestClient, editor: Headers, data: Path, lists_in: str, leading_slash: bool
) -> None:
    root = data / "rellis"
    L.rellis(root, lists_in=lists_in, leading_slash=leading_slash)
    d = _register(client, editor, root)
    assert d["preset_variant"] == "parent" and d["splits"] == ["train", "val", "test"]
    scan = d["scan"]
    assert scan["pairs"] == 5 and scan["problem_count"] == 0
    assert scan["per_split"] == {"train": 2, "val": 1, "test": 1, "": 1}  # 00004 is in no list
    report = scan["preset"]
    assert _splits(report) == [("", 1, 1), ("test", 1, 1), ("train", 2, 2), ("val", 1, 1)]
    assert report["unmatched"] == {}
    folder = lists_in or "Rellis-3D"
    assert f"split list {folder}/train.lst: 2 images listed as 'train', 2 found" in report["notes"]


def test_rellis_without_lst_files_records_no_split(client: TestClient, editor: Headers, data: Path) -> None:
    root = data / "rellis"
    L.rellis(root, lists=False)
    d = _register(client, editor, root)
    assert d["splits"] == [] and d["scan"]["per_split"] == {"": 5}
    assert _splits(d["scan"]["preset"]) == [("", 5, 5)]
    assert not any(n.startswith("split list") for n in d["scan"]["preset"]["notes"])


def test_listed_images_that_are_missing_are_reported_and_a_rescan_follows_the_lists(
    client: TestClient, editor: Headers, data: Path
) -> None:
    root = data / "rellis"
    layout = L.rellis(root)
    val = root / "Rellis-3D/val.lst"
    val.write_text(
        val.read_text() + "00009/pylon_camera_node/gone.jpg 00009/pylon_camera_node_label_id/gone.png\n"
    )
    d = _register(client, editor, root)
    notes = d["scan"]["preset"]["notes"]
    assert (
        "split list Rellis-3D/val.lst: 2 images listed as 'val', 1 found; 1 not found, "
        "e.g. 00009/pylon_camera_node/gone.jpg" in notes
    )
    # The 00004 frame moves into val.lst: a rescan reads the lists again.
    extra = layout.images[4].removeprefix("Rellis-3D/")
    val.write_text(f"{extra} x.png\n")
    r = client.post(f"/api/v1/datasets/{d['id']}/scan", headers=editor)
    assert r.status_code == 200, r.text
    assert r.json()["report"]["per_split"] == {"train": 2, "val": 1, "test": 1, "": 1}
    assert _splits(r.json()["report"]["preset"])[-1] == ("val", 1, 1)
    assert r.json()["report"]["preset"]["splits"][0] == {
        "split": "",
        "images": 1,
        "pairs": 1,
        "without_label": 0,
    }


@pytest.mark.parametrize("parent", [True, False], ids=["parent", "sequences"])
def test_wildscenes_devkit_csv_splits_are_applied(
    client: TestClient, editor: Headers, data: Path, parent: bool
) -> None:
    files = {
        "file": ("labels.csv", L.labels_csv([("unlabelled", 0, ""), ("bush", 2, "")]).encode(), "text/csv")
    }
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "WildScenes"}, headers=editor)
    assert r.status_code == 201, r.text
    root = data / "wild"
    L.wildscenes(root, parent=parent)
    r = client.post("/api/v1/datasets", json={"preset": "wildscenes", "root": str(root)}, headers=editor)
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["preset_variant"] == ("parent" if parent else "sequences")
    assert d["splits"] == ["train", "val", "test"]
    assert d["scan"]["per_split"] == {"train": 1, "val": 1, "test": 1}
    assert _splits(d["scan"]["preset"]) == [("test", 1, 1), ("train", 1, 1), ("val", 1, 1)]
    assert (
        "split list splits/opt2d/val.csv: 1 images listed as 'val', 1 found" in d["scan"]["preset"]["notes"]
    )
