"""Dataset presets (pure): the catalogue is consistent and matches the authors' reference lists,
palette files parse by their documented rules, variant detection and the per-split report work on
file listings, and colour-coded labels decode pixel by pixel with a dataset palette."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.domain.dataset_presets import (
    CONVERTERS,
    PaletteSource,
    detect_variant,
    match_variant,
    pair_variant,
)
from app.domain.errors import InvalidInput
from app.domain.label_codec import UNKNOWN_VALUE, LabelEncoding, decode_label, palette_from_colors
from app.domain.pairing import parse_label_template
from app.domain.palette_files import parse_palette_file
from app.domain.preset_catalog import PRESETS, get_preset
from app.domain.reference_csv import parse_labels_csv

PAPER_DATASETS = {
    "apolloscape", "bdd", "camvid", "cityscapes", "coco", "freiburg-forest", "god", "goose", "idd",
    "kitti", "mapillary-vistas", "nuimages", "rellis-3d", "road-lane-segmentation", "rugd", "a2d2",
    "tas500", "waymo", "wilddash", "wildscenes", "yamaha",
}  # fmt: skip


# --- the catalogue ------------------------------------------------------------------------------


def test_one_preset_per_dataset_of_the_paper() -> None:
    assert set(PRESETS) == PAPER_DATASETS


@pytest.mark.parametrize("key", sorted(PAPER_DATASETS))
def test_every_variant_is_a_valid_rule_and_says_how_its_labels_are_read(key: str) -> None:
    preset = PRESETS[key]
    assert preset.variants or not preset.layout_verified  # no layout only where it is unknown
    for v in preset.variants:
        if v.label_template is not None:
            parse_label_template(v.label_template, v.image_pattern)
        assert v.converter is None or v.converter in CONVERTERS
        if v.encoding is LabelEncoding.RGB and v.converter is None:
            assert v.palette is not None, f"{key}/{v.key}: rgb labels need a palette"
        if v.palette is not None and v.palette.source is PaletteSource.BUILTIN:
            colors = [c for c, _ in v.palette.colors]
            assert len(set(colors)) == len(colors)
    assert (preset.labels_csv is None) == (preset.taxonomy_name is None)
    if preset.labels_csv:  # `unilabel taxonomy import DATASET/labels.csv` names it DATASET
        assert preset.labels_csv == f"{preset.taxonomy_name}/labels.csv"


def test_get_preset_is_case_insensitive_and_lists_the_known_ones() -> None:
    assert get_preset(" CityScapes ").key == "cityscapes"
    with pytest.raises(InvalidInput) as exc:
        get_preset("cityscape")
    assert exc.value.field == "preset" and "mapillary-vistas" in exc.value.message


def test_presets_agree_with_the_authors_reference_lists(reference_dir: Path) -> None:
    for preset in PRESETS.values():
        if preset.labels_csv is None:
            continue
        path = reference_dir / preset.labels_csv
        assert path.is_file(), path
        taxonomy = parse_labels_csv(path.read_text(), preset.key)
        for v in preset.variants:
            if v.palette is not None and v.palette.source is PaletteSource.BUILTIN:
                assert all(taxonomy.has_name(name) for _, name in v.palette.colors), (preset.key, v.key)
            if v.palette is not None and v.palette.source is PaletteSource.TAXONOMY:
                assert len(taxonomy.colors) == len(taxonomy.labels), preset.key
    # A2D2's class_list.json groups, numbered from 1, are the reference labels.csv values 1..38
    a2d2 = parse_labels_csv((reference_dir / "a2d2/labels.csv").read_text(), "a2d2")
    palette = parse_palette_file((reference_dir / "a2d2/class_list.json").read_text(), "a2d2_class_list")
    assert sorted({v for _, v in palette}) == [v for v in a2d2.values if v != 0]
    camvid = parse_labels_csv((reference_dir / "CamVid/labels.csv").read_text(), "CamVid")
    rows = parse_palette_file((reference_dir / "CamVid/class_dict.csv").read_text(), "camvid_class_dict")
    assert [v for _, v in rows] == sorted(camvid.values)


# --- palette files ------------------------------------------------------------------------------


def test_a2d2_numbered_classes_share_a_value_in_order_of_first_appearance() -> None:
    text = json.dumps(
        {"#FF0000": "Car 1", "#c80000": "Car 2", "#00ff00": "Small vehicles 1", "#87ceff": "Sky"}
    )
    assert parse_palette_file(text, "a2d2_class_list") == (
        ("#ff0000", 1),
        ("#c80000", 1),
        ("#00ff00", 2),
        ("#87ceff", 3),
    )


def test_camvid_class_dict_and_label_colors_number_rows_from_zero() -> None:
    assert parse_palette_file("name,r,g,b\nAnimal,64,128,64\nRoad,128,64,128\n", "camvid_class_dict") == (
        ("#408040", 0),
        ("#804080", 1),
    )
    assert parse_palette_file("64 128 64\tAnimal\n128 64 128\tRoad\n", "camvid_label_colors") == (
        ("#408040", 0),
        ("#804080", 1),
    )


def test_rugd_colormap_uses_its_index_column() -> None:
    assert parse_palette_file("0 void 0 0 0\n7 sky 0 0 255\n", "rugd_colormap") == (
        ("#000000", 0),
        ("#0000ff", 7),
    )


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("{not json", "a2d2_class_list", "not JSON"),
        ('{"red": "Car 1"}', "a2d2_class_list", "#rrggbb"),
        ("[]", "a2d2_class_list", "non-empty object"),
        ("name,r,g,b\nRoad,128,64\n", "camvid_class_dict", "name,r,g,b"),
        ("name,r,g,b\nRoad,128,64,300\n", "camvid_class_dict", "outside 0..255"),
        ("name,r,g,b\nRoad,a,b,c\n", "camvid_class_dict", "three integers"),
        ("0 void 0 0\n", "rugd_colormap", "index name r g b"),
        ("", "camvid_label_colors", "1..4096"),
        ("x", "bmp_palette", "unknown palette format"),
    ],
)
def test_malformed_palette_files_are_refused(text: str, fmt: str, message: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_palette_file(text, fmt)
    assert exc.value.field == "palette" and message in exc.value.message


# --- colour decoding, pixel by pixel ------------------------------------------------------------


def test_rgb_decoding_with_a_palette_matches_a_per_pixel_lookup() -> None:
    palette = (("#ff0000", 1), ("#c80000", 1), ("#b65906", 2), ("#87ceff", 38), ("#000000", 0))
    rng = np.random.default_rng(3)
    colors = np.array(
        [[255, 0, 0], [200, 0, 0], [182, 89, 6], [135, 206, 255], [0, 0, 0], [1, 2, 3]], np.uint8
    )
    image = colors[rng.integers(0, len(colors), (17, 23))]
    rgba = np.concatenate([image, np.full((17, 23, 1), 128, np.uint8)], axis=2)  # alpha is ignored
    decoded = decode_label(rgba, "rgb", palette=palette)
    lookup = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)): v for c, v in palette}
    expected = [
        [lookup.get(tuple(int(x) for x in image[y, x]), UNKNOWN_VALUE) for x in range(23)] for y in range(17)
    ]
    assert decoded.values.tolist() == expected
    odd = int((image == [1, 2, 3]).all(axis=2).sum())
    assert decoded.unknown_color_pixels == odd > 0 and decoded.unknown_colors == ("#010203",)


def test_a_palette_wins_over_the_taxonomy_colours_and_a_repeated_colour_keeps_its_first_value() -> None:
    image = np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8)
    out = decode_label(
        image, "rgb", colors={5: "#ff0000"}, palette=(("#ff0000", 1), ("#ff0000", 9), ("#0000ff", 2))
    )
    assert out.values.tolist() == [[1, 2]]
    assert palette_from_colors({9: "#FF0000", 4: "#ff0000", 2: "#00ff00"}) == (("#00ff00", 2), ("#ff0000", 4))
    with pytest.raises(InvalidInput):
        decode_label(image, "rgb", palette=())


# --- variants and the per-split report ----------------------------------------------------------

CITYSCAPES_FILES = [
    "leftImg8bit/train/aachen/a_1_leftImg8bit.png",
    "leftImg8bit/train/aachen/a_2_leftImg8bit.png",
    "leftImg8bit/val/lindau/l_1_leftImg8bit.png",
    "gtFine/train/aachen/a_1_gtFine_labelIds.png",
    "gtFine/train/aachen/a_1_gtFine_polygons.json",
    "gtFine/train/aachen/a_1_gtFine_color.png",
    "gtFine/train/aachen/a_2_gtFine_polygons.json",
    "gtFine/val/lindau/l_1_gtFine_polygons.json",
    "gtCoarse/train/aachen/a_1_gtCoarse_labelIds.png",
]


def test_a_readable_variant_wins_over_one_needing_a_converter() -> None:
    preset = PRESETS["cityscapes"]
    best, counts = detect_variant(preset, CITYSCAPES_FILES)
    assert best == "labelids"
    assert [(c.variant, c.images, c.pairs) for c in counts] == [("labelids", 3, 1), ("polygons-only", 3, 3)]
    polygons = [f for f in CITYSCAPES_FILES if "labelIds" not in f]
    assert detect_variant(preset, polygons)[0] == "polygons-only"
    assert detect_variant(preset, ["README"])[0] is None


def test_match_reports_splits_missing_labels_and_files_outside_the_layout() -> None:
    preset = PRESETS["cityscapes"]
    match = match_variant(preset, preset.variants[0], CITYSCAPES_FILES)
    assert [(s.split, s.images, s.pairs, s.without_label) for s in match.splits] == [
        ("train", 2, 1, 1),
        ("val", 1, 0, 1),
    ]
    assert match.missing_splits == ("test",) and match.other_splits == ()
    assert match.unmatched == (("gtCoarse", 1),)
    assert match.unmatched_examples == ("gtCoarse/train/aachen/a_1_gtCoarse_labelIds.png",)


def test_label_folders_matching_the_image_pattern_are_not_splits() -> None:
    preset = PRESETS["camvid"]
    files = [
        "class_dict.csv",
        "train/a.png",
        "train_labels/a_L.png",
        "val/b.png",
        "val_labels/b_L.png",
        "extra/c.png",
    ]
    result = pair_variant(preset.variants[0], files, preset.splits)
    assert [(p.image, p.label, p.split) for p in result.pairs] == [
        ("train/a.png", "train_labels/a_L.png", "train"),
        ("val/b.png", "val_labels/b_L.png", "val"),
    ]
    assert result.problems == ()
    match = match_variant(preset, preset.variants[0], files)
    assert match.other_splits == ("extra",) and match.missing_splits == ("test",) and match.unmatched == ()
