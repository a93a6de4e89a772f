"""Registering a dataset as "preset + root" through the API: miniatures of published layouts
(tests/preset_layouts.py) are registered, scanned and reported per split; variants are detected;
formats that need a converter, a missing taxonomy or palette are refused with 422 and nothing stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests import preset_layouts as L

Headers = dict[str, str]


@pytest.fixture
def data(settings: Settings) -> Path:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.data_dir


@pytest.fixture
def import_taxonomy(client: TestClient, editor: Headers) -> Callable[[str, list[tuple[str, int, str]]], int]:
    def run(name: str, rows: list[tuple[str, int, str]]) -> int:
        files = {"file": ("labels.csv", L.labels_csv(rows).encode(), "text/csv")}
        r = client.post("/api/v1/taxonomies/import", files=files, data={"name": name}, headers=editor)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    return run


CITYSCAPES = [("unlabeled", 0, "#000000"), ("road", 7, "#804080"), ("sidewalk", 8, "#f423e8")]


def _error(r: Any) -> str:
    return str(r.json()["error"]["message"])


def _post(client: TestClient, editor: Headers, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/datasets", json=body, headers=editor)


def test_presets_are_listed_with_layout_converter_and_labels_csv(client: TestClient, viewer: Headers) -> None:
    r = client.get("/api/v1/datasets/presets", headers=viewer)
    assert r.status_code == 200
    presets = {p["key"]: p for p in r.json()}
    assert len(presets) == 21
    city = presets["cityscapes"]
    assert city["labels_csv"] == "cityscapes/labels.csv" and city["splits"] == ["train", "val", "test"]
    assert [v["key"] for v in city["variants"]] == ["labelids", "polygons-only"]
    assert city["variants"][1]["converter"] == "cityscapes-polygons" and city["readable"]
    assert presets["coco"]["readable"] and presets["nuimages"]["readable"]  # converted by a job
    waymo = presets["waymo"]  # the Parquet release is unpacked by a command, then registered
    assert [(v["key"], v["converter"]) for v in waymo["variants"]] == [
        ("v2-parquet", "waymo-parquet"),
        ("unpacked", None),
    ]
    assert waymo["readable"] and any("unilabel unpack-waymo" in n for n in waymo["notes"])
    assert presets["camvid"]["variants"][0]["encoding"] == "rgb"
    assert not presets["god"]["layout_verified"] and presets["god"]["readable"]


def test_cityscapes_registers_from_preset_and_root_and_scan_reports_per_split(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    tax = import_taxonomy("cityscapes", CITYSCAPES)
    layout = L.cityscapes(data / "cityscapes")
    r = _post(client, editor, {"preset": "cityscapes", "root": str(layout.root)})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["name"] == "cityscapes" and d["taxonomy_id"] == tax
    assert d["preset"] == "cityscapes" and d["preset_variant"] == "labelids"
    assert d["image_pattern"] == "leftImg8bit/{split}/{city}/{frame}_leftImg8bit.png"
    assert d["label_template"] == "gtFine/{split}/{city}/{frame}_gtFine_labelIds.png"
    assert d["label_encoding"] == "ids8" and d["splits"] == ["train", "val", "test"]
    scan = d["scan"]
    assert scan["pairs"] == 4 and scan["problem_count"] == 0
    assert scan["per_split"] == {"train": 2, "val": 1, "test": 1}
    assert scan["unknown_values"] == [11]  # the miniature's labels use 11 (building), not in this list
    report = scan["preset"]
    assert report["variant"] == "labelids"
    assert {v["variant"]: v["pairs"] for v in report["variants"]} == {"labelids": 4, "polygons-only": 4}
    assert [(s["split"], s["images"], s["pairs"]) for s in report["splits"]] == [
        ("test", 1, 1),
        ("train", 2, 2),
        ("val", 1, 1),
    ]
    assert report["missing_splits"] == [] and report["other_splits"] == []
    # colour previews, instance maps and polygons are part of the layout; notes/ is not
    assert report["unmatched"] == {"notes": 1} and report["unmatched_examples"] == ["notes/todo.txt"]
    assert any("placeholders" in n for n in report["notes"])


def test_a_missing_split_and_a_missing_label_are_reported(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("cityscapes", CITYSCAPES)
    layout = L.cityscapes(data / "cs")
    for path in layout.root.glob("leftImg8bit/test/*/*"):
        path.unlink()
    (layout.root / layout.labels[0]).unlink()
    d = _post(client, editor, {"preset": "cityscapes", "root": str(layout.root), "name": "cs"}).json()
    report = d["scan"]["preset"]
    assert report["missing_splits"] == ["test"]
    assert [(s["split"], s["images"], s["pairs"], s["without_label"]) for s in report["splits"]] == [
        ("train", 2, 1, 1),
        ("val", 1, 1, 0),
    ]
    assert d["scan"]["problem_count"] == 1 and "does not exist" in d["scan"]["problems"][0]["message"]


def test_polygon_only_cityscapes_registers_and_queues_its_conversion(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("cityscapes", CITYSCAPES)
    layout = L.cityscapes(data / "cs-poly", polygons_only=True)
    r = _post(client, editor, {"preset": "cityscapes", "root": str(layout.root)})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["preset_variant"] == "polygons-only" and d["label_converter"] == "cityscapes-polygons"
    assert d["conversion_job_id"] is not None and d["scan"] is None  # the job scans after converting
    assert d["label_template"] == "gtFine/{split}/{city}/{frame}_gtFine_polygons.png"


@pytest.mark.parametrize(("preset", "converter"), [("coco", "coco-panoptic"), ("wilddash", "coco-panoptic")])
def test_panoptic_presets_register_with_the_converter(
    client: TestClient,
    editor: Headers,
    data: Path,
    import_taxonomy: Callable[..., int],
    preset: str,
    converter: str,
) -> None:
    import_taxonomy(preset, [("person", 0, "")])
    root = data / preset
    if preset == "coco":
        L.coco_panoptic(root)
    else:
        L.image(root / "images" / "a.jpg")
        L.rgb_png(root / "panoptic" / "a.png", L.stripes(["#010000"]))
    r = _post(client, editor, {"preset": preset, "root": str(root)})
    assert r.status_code == 201 and r.json()["label_converter"] == converter, r.text
    assert r.json()["conversion_job_id"] is not None


def test_camvid_rgb_labels_decode_with_the_datasets_class_dict(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("CamVid", [("Animal", 0, ""), ("Archway", 1, ""), ("Bicyclist", 2, ""), ("Road", 3, "")])
    layout = L.camvid(data / "CamVid")
    r = _post(client, editor, {"preset": "camvid", "root": str(layout.root)})
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["label_encoding"] == "rgb" and d["preset_variant"] == "class-dict"
    assert d["label_palette"] == [["#408040", 0], ["#c00080", 1], ["#0080c0", 2], ["#804080", 3]]
    scan = d["scan"]
    # train_labels/ etc. are label folders, not splits of images
    assert scan["per_split"] == {"train": 1, "val": 1, "test": 1} and scan["problem_count"] == 0
    assert scan["unknown_colors"] == ["#123456"] and scan["unknown_color_pixels"] == 3
    assert scan["unknown_values"] == [] and scan["preset"]["other_splits"] == []
    assert scan["preset"]["unmatched"] == {}  # class_dict.csv is part of the layout


def test_a2d2_numbered_colours_of_a_class_share_its_value(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy(
        "a2d2", [("void", 0, ""), ("car", 1, ""), ("bicycle", 2, ""), ("pedestrian", 3, ""), ("sky", 4, "")]
    )
    layout = L.a2d2(data / "a2d2")
    d = _post(client, editor, {"preset": "a2d2", "root": str(layout.root)}).json()
    assert d["preset_variant"] == "parent"
    assert d["label_palette"] == [
        ["#ff0000", 1],
        ["#c80000", 1],
        ["#b65906", 2],
        ["#cc99ff", 3],
        ["#87ceff", 4],
    ]
    assert d["scan"]["pairs"] == 2 and d["scan"]["unknown_colors"] == []
    assert d["scan"]["preset"]["unmatched"] == {}  # class_list.json and camera .json files are known


def test_a2d2_root_inside_camera_lidar_semantic_is_the_scenes_variant(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy(
        "a2d2", [("void", 0, ""), ("car", 1, ""), ("bicycle", 2, ""), ("pedestrian", 3, ""), ("sky", 4, "")]
    )
    layout = L.a2d2(data / "camera_lidar_semantic", parent=False)
    d = _post(client, editor, {"preset": "a2d2", "root": str(layout.root)}).json()
    assert d["preset_variant"] == "scenes" and d["scan"]["pairs"] == 2


def test_yamaha_builtin_palette_is_resolved_by_label_name(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    rows = [("background", 0, ""), ("high_vegetation", 1, ""), ("traversable_grass", 2, ""),
            ("smooth_trail", 3, ""), ("obstacle", 4, ""), ("sky", 5, ""), ("rough_trail", 6, ""),
            ("puddle", 7, ""), ("non_traversable_low_vegetation", 8, "")]  # fmt: skip
    import_taxonomy("yamaha", rows)
    layout = L.yamaha(data / "ycor")
    d = _post(client, editor, {"preset": "yamaha", "root": str(layout.root)}).json()
    assert d["preset_variant"] == "parent" and d["splits"] == ["train", "valid"]
    assert ["#ff0080", 7] in d["label_palette"] and ["#ffffff", 0] in d["label_palette"]
    assert d["scan"]["per_split"] == {"train": 2, "valid": 1} and d["scan"]["unknown_colors"] == []


def test_a_builtin_palette_naming_labels_the_taxonomy_lacks_is_refused(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int], snapshot: Any
) -> None:
    import_taxonomy("yamaha", [("background", 0, ""), ("sky", 5, "")])
    layout = L.yamaha(data / "ycor")
    before = snapshot()
    r = _post(client, editor, {"preset": "yamaha", "root": str(layout.root)})
    assert r.status_code == 422 and "puddle" in _error(r)
    assert snapshot() == before


def test_a_preset_whose_taxonomy_is_not_imported_says_which_labels_csv(
    client: TestClient, editor: Headers, data: Path
) -> None:
    layout = L.kitti(data / "kitti")
    r = _post(client, editor, {"preset": "kitti", "root": str(layout.root)})
    assert r.status_code == 422
    text = _error(r)
    assert "'KITTI'" in text and "KITTI/labels.csv" in text and "taxonomy import" in text


def test_kitti_testing_images_are_another_split_not_missing_labels(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("KITTI", [("unlabeled", 0, ""), ("road", 7, "")])
    layout = L.kitti(data / "kitti")
    d = _post(client, editor, {"preset": "kitti", "root": str(layout.root)}).json()
    assert d["scan"]["pairs"] == 2 and d["scan"]["problem_count"] == 0
    assert d["scan"]["preset"]["other_splits"] == ["testing"] and d["scan"]["preset"]["unmatched"] == {}


def test_the_mapillary_v2_archive_variant_is_detected(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("mapillary-vistas", [("animal--bird", 0, ""), ("construction--barrier--curb", 2, "")])
    layout = L.mapillary_v2_archive(data / "vistas")
    d = _post(client, editor, {"preset": "mapillary-vistas", "root": str(layout.root)}).json()
    assert d["preset_variant"] == "v2.0-archive" and d["scan"]["pairs"] == 2
    assert d["scan"]["unknown_values"] == []  # the v1.2 labels, not v2.0's value 99
    counts = {v["variant"]: (v["images"], v["pairs"]) for v in d["scan"]["preset"]["variants"]}
    assert counts == {"v1.2": (2, 0), "v2.0-archive": (2, 2)}


def test_a_preset_without_a_known_layout_needs_a_pattern_then_gives_the_taxonomy(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    tax = import_taxonomy("god", [("void", 0, ""), ("dirt", 1, "")])
    root = data / "god"
    L.image(root / "img" / "a.png")
    L.ids_png(root / "lab" / "a.png", np.ones((L.H, L.W), dtype=np.uint8))
    r = _post(client, editor, {"preset": "god", "root": str(root)})
    assert r.status_code == 422 and "knows no folder layout" in _error(r)
    body = {
        "preset": "god",
        "root": str(root),
        "image_pattern": "img/{stem}.png",
        "label_template": "lab/{stem}.png",
    }
    d = _post(client, editor, body).json()
    assert d["taxonomy_id"] == tax and d["scan"]["pairs"] == 1 and d["preset_variant"] is None


def test_unknown_preset_variant_and_empty_root_are_refused(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("cityscapes", CITYSCAPES)
    (data / "empty").mkdir()
    r = _post(client, editor, {"preset": "citiscapes", "root": str(data / "empty")})
    assert r.status_code == 422 and "known presets" in _error(r)
    r = _post(client, editor, {"preset": "cityscapes", "variant": "v9", "root": str(data / "empty")})
    assert r.status_code == 422 and "labelids, polygons-only" in _error(r)
    r = _post(client, editor, {"preset": "cityscapes", "root": str(data / "empty")})
    assert r.status_code == 422
    assert "no files" in _error(r) and "_gtFine_labelIds.png" in _error(r)


def test_a_list_file_with_a_colour_preset_keeps_its_encoding_and_palette(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("CamVid", [("Animal", 0, ""), ("Archway", 1, ""), ("Bicyclist", 2, ""), ("Road", 3, "")])
    layout = L.camvid(data / "CamVid")
    (layout.root / "pairs.txt").write_text(
        "".join(f"{i} {lab}\n" for i, lab in zip(layout.images, layout.labels, strict=True))
    )
    body = {"preset": "camvid", "root": str(layout.root), "list_file": "pairs.txt"}
    d = _post(client, editor, body).json()
    assert d["list_file"] == "pairs.txt" and d["image_pattern"] is None and d["preset_variant"] is None
    assert d["label_encoding"] == "rgb" and d["label_palette"][0] == ["#408040", 0]
    assert d["scan"]["pairs"] == 3 and d["scan"]["unknown_colors"] == ["#123456"]


def test_a_rescan_says_when_another_variant_now_fits_better(
    client: TestClient, editor: Headers, data: Path, import_taxonomy: Callable[..., int]
) -> None:
    import_taxonomy("mapillary-vistas", [("animal--bird", 0, ""), ("construction--barrier--curb", 2, "")])
    root = data / "vistas"
    L.image(root / "training/images/a.jpg")
    L.ids_png(root / "training/labels/a.png", np.full((L.H, L.W), 2, dtype=np.uint8))
    d = _post(client, editor, {"preset": "mapillary-vistas", "root": str(root)}).json()
    assert d["preset_variant"] == "v1.2"
    L.mapillary_v2_archive(root)  # the v2.0 archive unpacked over it: two more v1.2 labels elsewhere
    r = client.post(f"/api/v1/datasets/{d['id']}/scan", headers=editor)
    report = r.json()["report"]["preset"]
    assert report["variant"] == "v1.2"
    assert "variant 'v2.0-archive' now pairs more files (2)" in report["notes"][0]
