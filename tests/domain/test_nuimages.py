"""nuImages tables (app.domain.nuimages): the devkit's 25 category names resolve through the
reference labels.csv; tables are indexed by image filename; the paint order is the devkit's;
malformed tables are refused with a message naming the table and record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.domain.errors import InvalidInput
from app.domain.nuimages import (
    build_release,
    category_values,
    ordered_splits,
    paint_order,
    parse_table,
    splits_from_records,
)
from app.domain.reference_csv import parse_labels_csv

DEVKIT_CATEGORIES = (
    "animal", "flat.driveable_surface", "human.pedestrian.adult", "human.pedestrian.child",
    "human.pedestrian.construction_worker", "human.pedestrian.personal_mobility",
    "human.pedestrian.police_officer", "human.pedestrian.stroller", "human.pedestrian.wheelchair",
    "movable_object.barrier", "movable_object.debris", "movable_object.pushable_pullable",
    "movable_object.trafficcone", "static_object.bicycle_rack", "vehicle.bicycle", "vehicle.bus.bendy",
    "vehicle.bus.rigid", "vehicle.car", "vehicle.construction", "vehicle.ego",
    "vehicle.emergency.ambulance", "vehicle.emergency.police", "vehicle.motorcycle", "vehicle.trailer",
    "vehicle.truck",
)  # fmt: skip


def test_every_devkit_category_resolves_through_the_reference_list(reference_dir: Path) -> None:
    taxonomy = parse_labels_csv((reference_dir / "nuimages/labels.csv").read_text(), "nuimages")
    values, unknown = category_values({f"t{i}": n for i, n in enumerate(DEVKIT_CATEGORIES)}, taxonomy)
    assert unknown == ()
    assert sorted(values.values()) == list(range(1, 26))  # 0 is 'unlabeled', the background
    named = {DEVKIT_CATEGORIES[int(t[1:])]: v for t, v in values.items()}
    assert (named["vehicle.bus.rigid"], named["flat.driveable_surface"], named["vehicle.ego"]) == (20, 13, 14)


def _mask() -> dict[str, object]:
    return {"size": [2, 3], "counts": "MDE="}


def test_tables_index_frames_by_filename_and_paint_surfaces_then_objects_by_token() -> None:
    tables = {
        "category": [{"token": "c", "name": "vehicle.car"}],
        "sample_data": [{"token": "sd", "filename": "samples/CAM_FRONT/a.jpg", "width": 3, "height": 2}],
        "surface_ann": [{"token": "z", "sample_data_token": "sd", "category_token": "c", "mask": _mask()}],
        "object_ann": [
            {"token": t, "sample_data_token": "sd", "category_token": "c", "mask": m}
            for t, m in (("y", _mask()), ("x", None))
        ],
    }
    release = build_release(tables)
    frame = release.frames["samples/CAM_FRONT/a.jpg"]
    assert (frame.token, frame.width, frame.height) == ("sd", 3, 2)
    assert [a.token for a in paint_order(frame)] == ["z", "x", "y"]
    assert release.categories == {"c": "vehicle.car"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "object_ann.json is not valid JSON"),
        ('{"a": 1}', "the top level is not a list"),
        ('[{"name": "x"}]', "record 0 has no token"),
    ],
)
def test_malformed_tables_are_refused_naming_the_table(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_table(text, "object_ann")


def test_a_record_without_a_needed_field_or_with_a_bad_mask_is_named() -> None:
    base = {"category": [], "sample_data": [], "surface_ann": [], "object_ann": []}
    bad_sd = {**base, "sample_data": [{"token": "s", "filename": "a.jpg", "width": 0, "height": 2}]}
    with pytest.raises(InvalidInput, match="sample_data.json record 0: width is 0"):
        build_release(bad_sd)
    ann = {"token": "o", "sample_data_token": "s", "category_token": "c", "mask": {"size": [2], "counts": ""}}
    with pytest.raises(InvalidInput, match=r"object_ann.json record 0: mask is not"):
        build_release({**base, "object_ann": [ann]})


def test_splits_come_from_the_release_folder_each_image_was_converted_from() -> None:
    records = "\n".join(
        [
            json.dumps({"native": "samples/C/a.jpg", "release": "v1.0-val"}),
            json.dumps({"native": "samples/C/b.jpg", "release": "v1.0-train"}),
            json.dumps({"native": "samples/C/c.jpg", "release": "v1.0-mini"}),
            json.dumps({"native": "x.png"}),  # another converter's record: no release
            '{"native": "samples/C/torn',
        ]
    )
    splits = splits_from_records(records)
    assert splits == {"samples/C/a.jpg": "val", "samples/C/b.jpg": "train", "samples/C/c.jpg": "mini"}
    assert ordered_splits(splits.values()) == ["train", "val", "mini"]
