"""ApolloScape's split lists through the API: a scene-parsing miniature with road0N_ins_<split>.lst
files (several per split, one ``image<TAB>label`` line per pair, paths with spaces as the lists
write ``Camera 5``) gets each listed pair's split; a list path with a space finds a folder unpacked
with ``_``; images no list names keep no split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from app.config import Settings
from tests import preset_layouts as L

Headers = dict[str, str]
FRAMES = {  # image path -> (label path, split list it is in, or None)
    "road01_ins/ColorImage/Record001/Camera 5/170927_063811892_Camera_5.jpg": "road01_ins_train.lst",
    "road01_ins/ColorImage/Record001/Camera 6/170927_063811892_Camera_6.jpg": "road01_ins_val.lst",
    "road02_ins/ColorImage/Record002/Camera_5/170927_064000000_Camera_5.jpg": "road02_ins_train.lst",
    "road02_ins/ColorImage/Record002/Camera_5/170927_064100000_Camera_5.jpg": None,
}


def _apolloscape(root: Path) -> None:
    lists: dict[str, list[str]] = {}
    for i, (img, listed_in) in enumerate(FRAMES.items()):
        label = img.replace("/ColorImage/", "/Label/").replace(".jpg", "_bin.png")
        L.image(root / img, i)
        L.ids_png(root / label, np.full((L.H, L.W), 1, dtype=np.uint8))
        if listed_in is not None:  # the lists write the camera folder with a space
            listed = img.replace("Camera_5/", "Camera 5/"), label.replace("Camera_5/", "Camera 5/")
            lists.setdefault(listed_in, []).append("\t".join(listed) + "\n")
    for name, lines in lists.items():
        (root / name).write_text("".join(lines))


def test_apolloscape_lst_files_give_each_listed_pair_its_split(
    client: TestClient, editor: Headers, settings: Settings
) -> None:
    csv = L.labels_csv([("others", 0, ""), ("road", 1, "")])
    files = {"file": ("labels.csv", csv.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": "ApolloScape"}, headers=editor)
    assert r.status_code == 201, r.text
    root = settings.data_dir / "apollo"
    _apolloscape(root)
    r = client.post("/api/v1/datasets", json={"preset": "apolloscape", "root": str(root)}, headers=editor)
    assert r.status_code == 201, r.text
    d: dict[str, Any] = r.json()
    assert d["splits"] == ["train", "val"]
    scan = d["scan"]
    assert scan["pairs"] == 4 and scan["problem_count"] == 0
    assert scan["per_split"] == {"train": 2, "val": 1, "": 1}
    report = scan["preset"]
    assert report["unmatched"] == {}  # the .lst files are files of the layout
    notes = report["notes"]
    assert "split list road01_ins_train.lst: 1 images listed as 'train', 1 found" in notes
    assert "split list road02_ins_train.lst: 1 images listed as 'train', 1 found" in notes
    assert "split list road01_ins_val.lst: 1 images listed as 'val', 1 found" in notes
