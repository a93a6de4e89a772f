"""Native label conversion, pixel by pixel: Cityscapes-style polygons drawn as cityscapesScripts'
json2labelImg draws them, COCO panoptic PNGs decoded with rgb2id through segments_info; resumable
conversion with provenance; bad files reported, never fatal.

Expected masks are built by hand with numpy slices (rectangles, a right triangle whose pixels are
x + y <= 4), never by the drawing code under test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.domain.errors import InvalidInput
from app.domain.native_labels import (
    PANOPTIC,
    POLYGONS,
    RECORDS,
    ConversionItem,
    PanopticIndex,
    category_values,
    panoptic_values,
    parse_panoptic_json,
    parse_polygons,
    rgb2id,
)
from app.domain.taxonomy import Label, Taxonomy
from worker.label_conversion import (
    PROVENANCE,
    ConversionConfig,
    convert_items,
    merge_records,
    rasterise_polygons,
)

TAXONOMY = Taxonomy(
    "mini",
    (
        Label(0, "unlabeled"),
        Label(7, "road"),
        Label(11, "building"),
        Label(23, "sky"),
        Label(26, "car"),
        Label(-1, "license plate"),
    ),
)
W, H = 10, 8


def _rect(x0: int, y0: int, x1: int, y1: int) -> list[list[int]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]


def _polygons(objects: list[dict[str, object]]) -> str:
    return json.dumps({"imgHeight": H, "imgWidth": W, "objects": objects})


def test_polygons_are_drawn_in_file_order_with_their_edges_like_json2labelimg() -> None:
    text = _polygons(
        [
            {"label": "road", "polygon": _rect(1, 1, 5, 4)},
            {"label": "cargroup", "polygon": _rect(4, 3, 8, 6)},  # json2labelImg: drawn as 'car'
            {"label": "sky", "polygon": _rect(0, 0, 9, 7), "deleted": 1},  # deleted: skipped
            {"label": "license plate", "polygon": _rect(0, 0, 9, 7)},  # value -1: not drawn
            {"label": "flying saucer", "polygon": _rect(0, 0, 9, 7)},  # unknown: reported
            {"label": "building", "polygon": [[0, 7], [4, 7], [0, 3]]},  # right triangle, apex down
        ]
    )
    labels = parse_polygons(text, TAXONOMY)
    assert labels.unknown == ("flying saucer",) and labels.skipped == 2 and labels.background == 0
    expected = np.zeros((H, W), dtype=np.uint8)
    expected[1:5, 1:6] = 7  # edges included: x 1..5, y 1..4
    expected[3:7, 4:9] = 26  # painted over the road where they overlap
    for y in range(3, 8):  # triangle (0,7) (4,7) (0,3): x + (7 - y) <= 4
        expected[y, : 4 - (7 - y) + 1] = 11
    got = rasterise_polygons(labels)
    assert got.dtype == np.uint8 and got.shape == (H, W)
    np.testing.assert_array_equal(got, expected)


def test_values_above_255_are_drawn_in_a_wide_image() -> None:
    wide = Taxonomy("wide", (Label(0, "unlabeled"), Label(300, "road")))
    labels = parse_polygons(_polygons([{"label": "road", "polygon": _rect(2, 2, 3, 3)}]), wide)
    expected = np.zeros((H, W), dtype=np.int64)
    expected[2:4, 2:4] = 300
    np.testing.assert_array_equal(rasterise_polygons(labels).astype(np.int64), expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "top level is not an object"),
        ('{"imgWidth": 4, "objects": []}', "imgHeight is None"),
        ('{"imgWidth": 4, "imgHeight": 0, "objects": []}', "outside 1..20000"),
        ('{"imgWidth": 4, "imgHeight": 4}', "'objects' is not a list"),
        ('{"imgWidth": 4, "imgHeight": 4, "objects": [{"polygon": []}]}', "object 0 has no label"),
        ('{"imgWidth": 4, "imgHeight": 4, "objects": [{"label": "road", "polygon": [[1]]}]}', "not [x, y]"),
    ],
)
def test_malformed_polygon_files_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_polygons(text, TAXONOMY)
    assert message in err.value.message


def _panoptic_rgb(ids: np.ndarray) -> np.ndarray:
    """The COCO encoding written by hand: R = id % 256, G = id // 256 % 256, B = id // 256**2."""
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def test_panoptic_ids_follow_rgb2id_and_resolve_through_segments_info() -> None:
    ids = np.zeros((H, W), dtype=np.int64)
    ids[:, 2:4] = 1  # car (category 3)
    ids[:, 4:6] = 2 * 256  # road (category 7), encoded in G
    ids[:, 6:8] = 65536 + 5  # not in segments_info: background, listed
    ids[:, 8:] = 300  # category 99, which the taxonomy lacks: background, counted
    rgb = _panoptic_rgb(ids)
    np.testing.assert_array_equal(rgb2id(rgb), ids)
    result = panoptic_values(rgb, {1: 3, 512: 7, 300: 99}, {3: 26, 7: 7}, background=0)
    expected = np.zeros((H, W), dtype=np.int64)
    expected[:, 2:4] = 26
    expected[:, 4:6] = 7
    np.testing.assert_array_equal(result.values, expected)
    assert result.unlisted_segments == (65536 + 5,) and result.unknown_category_pixels == 2 * H


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "not valid JSON"),
        ("{}", "'categories' is missing"),
        ('{"categories": []}', "'annotations' is missing"),
        ('{"categories": [{"id": "x", "name": "car"}], "annotations": []}', "id is 'x'"),
        ('{"categories": [], "annotations": [{"file_name": "a.png", "segments_info": 3}]}', "not a list"),
    ],
)
def test_malformed_panoptic_json_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_panoptic_json(text)
    assert message in err.value.message


def test_polygon_conversion_resumes_records_provenance_and_reports_bad_files(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    (root / "gt").mkdir(parents=True)
    (root / "gt/a_polygons.json").write_text(_polygons([{"label": "road", "polygon": _rect(0, 0, 9, 3)}]))
    (root / "gt/b_polygons.json").write_text(_polygons([{"label": "dragon", "polygon": _rect(0, 0, 1, 1)}]))
    (root / "gt/c_polygons.json").write_text("{broken")
    items = [
        ConversionItem(f"gt/{n}_polygons.json", f"gt/{n}_polygons.png") for n in ("a", "b", "c", "missing")
    ]
    config = ConversionConfig(POLYGONS, root, out, TAXONOMY, "ids8", dataset="mini")
    report = convert_items(config, items)
    assert (report.converted, report.skipped, report.failed) == (2, 0, 2)
    assert report.unknown_labels == {"dragon": 1}
    assert [p["label"] for p in report.problems] == ["gt/c_polygons.json", "gt/missing_polygons.json"]
    assert "not valid JSON" in report.problems[0]["message"] and "missing" in report.problems[1]["message"]
    expected = np.zeros((H, W), dtype=np.uint8)
    expected[0:4, :] = 7
    with Image.open(out / "gt/a_polygons.png") as img:
        assert img.mode == "L"
        np.testing.assert_array_equal(np.asarray(img), expected)
    assert not (out / "gt/c_polygons.png").exists()
    provenance = json.loads((out / PROVENANCE).read_text())
    assert provenance["converter"] == POLYGONS and provenance["converted_files"] == 2
    first_digest = provenance["sources_sha256"]
    # the broken file is fixed; a re-run converts only it and keeps the finished ones
    (root / "gt/c_polygons.json").write_text(_polygons([]))
    before = (out / "gt/a_polygons.png").stat().st_mtime_ns
    again = convert_items(config, items)
    assert (again.converted, again.skipped, again.failed) == (1, 2, 1)
    assert again.unknown_labels == {"dragon": 1}  # read back from the records of skipped files
    assert (out / "gt/a_polygons.png").stat().st_mtime_ns == before
    assert len((out / RECORDS).read_text().splitlines()) == 3
    provenance = json.loads((out / PROVENANCE).read_text())
    assert provenance["converted_files"] == 3 and provenance["sources_sha256"] != first_digest


def test_panoptic_conversion_reads_the_split_json_once_and_reports_a_missing_one(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    ids = np.zeros((H, W), dtype=np.int64)
    ids[2:, :] = 9
    (root / "pan").mkdir(parents=True)
    Image.fromarray(_panoptic_rgb(ids), mode="RGB").save(root / "pan/x.png")
    Image.fromarray(_panoptic_rgb(ids), mode="RGB").save(root / "pan/y.png")
    segments = {
        "categories": [{"id": 50, "name": "road"}],
        "annotations": [{"file_name": "x.png", "segments_info": [{"id": 9, "category_id": 50}]}],
    }
    (root / "pan.json").write_text(json.dumps(segments))
    items = [
        ConversionItem("pan/x.png", "pan/x.png", "pan.json"),
        ConversionItem("pan/y.png", "pan/y.png", "pan.json"),  # not annotated in the JSON
        ConversionItem("pan/x.png", "other/x.png", "gone.json"),
    ]
    report = convert_items(ConversionConfig(PANOPTIC, root, out, TAXONOMY, "ids8"), items)
    assert (report.converted, report.failed) == (1, 2)
    assert "no annotation for 'y.png'" in report.problems[0]["message"]
    assert "'gone.json' is missing" in report.problems[1]["message"]
    expected = np.zeros((H, W), dtype=np.uint8)
    expected[2:, :] = 7
    with Image.open(out / "pan/x.png") as img:
        np.testing.assert_array_equal(np.asarray(img), expected)
    provenance = json.loads((out / PROVENANCE).read_text())
    assert list(provenance["segments_json"]) == ["pan.json"]


def test_panoptic_category_names_match_the_taxonomy_exactly_else_loosely_when_unambiguous() -> None:
    taxonomy = Taxonomy(
        "wd", (Label(0, "unlabeled"), Label(1, "egovehicle"), Label(2, "road"), Label(3, "Road"))
    )
    index = PanopticIndex({1: "ego vehicle", 2: "road", 3: "ROAD", 4: "sky"}, {})
    values, unknown = category_values(index, taxonomy)
    # 'ego vehicle' -> 'egovehicle'; 'road' exact; 'ROAD' is ambiguous (road, Road); 'sky' unknown
    assert values == {1: 1, 2: 2} and unknown == ("ROAD", "sky")


def test_shard_records_resume_after_a_torn_line_and_merge_in_plan_order(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    (root / "gt").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (root / f"gt/{name}_polygons.json").write_text(
            _polygons([{"label": "road", "polygon": _rect(0, 0, 9, 3)}])
        )
    items = [ConversionItem(f"gt/{n}_polygons.json", f"gt/{n}_polygons.png") for n in ("a", "b", "c")]
    config = ConversionConfig(converter=POLYGONS, root=root, out_dir=out, taxonomy=TAXONOMY, encoding="ids8")
    first, second = (
        out / ".conversion/job-1/records.00000.jsonl",
        out / ".conversion/job-1/records.00001.jsonl",
    )
    assert convert_items(config, items[2:], records_file=second).converted == 1
    assert convert_items(config, items[:1], records_file=first).converted == 1
    assert not (out / PROVENANCE).exists() and not (out / RECORDS).exists()  # left to finalize
    # a killed writer: 'b' written with a torn record; the re-run redoes 'b' and skips 'a'
    assert convert_items(config, items[1:2], records_file=tmp_path / "lost.jsonl").converted == 1
    with first.open("a") as f:
        f.write('{"native": "gt/b_pol')
    again = convert_items(config, items[:2], records_file=first)
    assert (again.converted, again.skipped) == (1, 1)
    records = merge_records(out, items, [first, second])
    assert [json.loads(line)["output"] for line in (out / RECORDS).read_text().splitlines()] == [
        i.output for i in items
    ]
    assert set(records) == {i.output for i in items}
