"""A taxonomy imported without colours gets a generated palette, flagged, that a person can override."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image, ImageColor
from sqlalchemy.orm import Session

from app.config import Settings
from app.services import taxonomies as taxonomy_service
from tests.web.api.conftest import SOURCE_CSV

NO_COLOURS = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,\n"
    "1,road,7,0,flat,1,False,False,\n"
    "2,sidewalk,8,1,flat,1,False,False,#f423e8\n"
    "3,building,11,2,construction,2,False,False,\n"
    "4,sky,23,10,sky,5,False,False,\n"
)


def _import(client: TestClient, headers: dict[str, str], text: str, name: str) -> dict[str, object]:
    files = {"file": ("labels.csv", text.encode(), "text/csv")}
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": name}, headers=headers)
    assert r.status_code == 201, r.text
    read = client.get(f"/api/v1/taxonomies/{r.json()['id']}", headers=headers)
    body: dict[str, object] = read.json()
    return body


def test_labels_without_colour_get_distinct_generated_ones(
    client: TestClient, editor: dict[str, str]
) -> None:
    labels = _import(client, editor, NO_COLOURS, "plain")["labels"]
    assert isinstance(labels, list)
    by_name = {lb["name"]: lb for lb in labels}
    assert all(lb["color"] for lb in labels)  # no label is left without a colour
    assert by_name["unlabeled"]["color"] == "#000000" and by_name["unlabeled"]["color_generated"]
    assert by_name["sidewalk"] == {**by_name["sidewalk"], "color": "#f423e8", "color_generated": False}
    made = [by_name[n]["color"] for n in ("road", "building", "sky")]
    assert all(by_name[n]["color_generated"] for n in ("road", "building", "sky"))
    assert len({*made, "#f423e8", "#000000"}) == 5
    again = _import(client, editor, NO_COLOURS, "plain again")["labels"]
    assert [lb["color"] for lb in labels] == [lb["color"] for lb in again]  # type: ignore[index]


def test_a_file_with_colours_is_not_marked_generated(client: TestClient, editor: dict[str, str]) -> None:
    labels = _import(client, editor, SOURCE_CSV, "coloured")["labels"]
    assert isinstance(labels, list) and not any(lb["color_generated"] for lb in labels)


def test_export_of_an_unedited_import_stays_byte_identical(
    client: TestClient, editor: dict[str, str]
) -> None:
    tid = _import(client, editor, NO_COLOURS, "plain")["id"]
    r = client.get(f"/api/v1/taxonomies/{tid}/export?format=labels_csv", headers=editor)
    assert r.text == NO_COLOURS


def test_reference_palettes_still_win(session: Session) -> None:
    classes = tuple(enumerate(("road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
                               "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
                               "truck", "bus", "train", "motorcycle", "bicycle")))  # fmt: skip
    row, created = taxonomy_service.find_or_create_class_list(session, classes=classes, name="cs")
    assert created
    stored = taxonomy_service.list_labels(session, row.id)
    assert stored[10].color == "#4682b4" and not any(lb.color_generated for lb in stored)
    other, _ = taxonomy_service.find_or_create_class_list(session, classes=((0, "x"), (1, "y")), name="xy")
    assert all(lb.color and lb.color_generated for lb in taxonomy_service.list_labels(session, other.id))


def test_generated_colours_never_decode_colour_coded_labels(
    client: TestClient, editor: dict[str, str], settings: Settings
) -> None:
    """A colour-coded dataset is read with its real colours: a generated one is an unknown colour."""
    taxonomy = _import(client, editor, NO_COLOURS, "plain")
    by_name = {lb["name"]: lb for lb in taxonomy["labels"]}  # type: ignore[attr-defined]
    root = settings.data_dir / "rgb"
    label = np.zeros((4, 4, 3), np.uint8)
    label[:, :2] = ImageColor.getrgb(str(by_name["road"]["color"]))  # the generated colour
    label[:, 2:] = ImageColor.getrgb("#f423e8")  # sidewalk's colour from the file
    for sub, array in (("images", np.zeros((4, 4, 3), np.uint8)), ("labels", label)):
        (root / sub).mkdir(parents=True)
        Image.fromarray(array).save(root / sub / "a.png")
    body = {
        "name": "rgb", "taxonomy_id": taxonomy["id"],
        "root": str(root), "image_pattern": "images/{stem}.png", "label_template": "labels/{stem}.png",
        "label_encoding": "rgb",
    }  # fmt: skip
    r = client.post("/api/v1/datasets", json=body, headers=editor)
    assert r.status_code == 201, r.text
    report = client.get(f"/api/v1/datasets/{r.json()['id']}", headers=editor).json()["scan"]
    assert str(by_name["road"]["color"]).lower() in [c.lower() for c in report["unknown_colors"]]
    assert "#f423e8" not in [c.lower() for c in report["unknown_colors"]]
