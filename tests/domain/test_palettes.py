"""Reference palettes: matched by the exact class list, colours as the paper's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.domain.palettes import REFERENCE_PALETTES, reference_palette
from app.domain.reference_csv import parse_master_labels_csv


def test_cityscapes_classes_get_the_cityscapes_train_id_colours() -> None:
    classes = [(i, name) for i, (name, _) in enumerate(REFERENCE_PALETTES["cityscapes"])]
    found = reference_palette(classes)
    assert found is not None
    key, colors = found
    assert key == "cityscapes" and len(colors) == 19
    # cityscapesScripts helpers/labels.py: road (128, 64, 128), sky (70, 130, 180), bicycle (119, 11, 32)
    assert (colors[0], colors[10], colors[18]) == ("#804080", "#4682b4", "#770b20")
    assert reference_palette(classes[:-1]) is None
    assert reference_palette([*classes[:-1], (18, "bike")]) is None


def test_every_reference_target_file_matches_its_palette(reference_dir: Path) -> None:
    seen = set()
    for path in sorted(reference_dir.glob("*/master_labels_*.csv")):
        key = path.stem.removeprefix("master_labels_")
        found = reference_palette(parse_master_labels_csv(path.read_text(encoding="utf-8")).target_classes)
        if key in REFERENCE_PALETTES:
            assert found is not None and found[0] == key, path
            seen.add(key)
        else:
            assert found is None, path
    assert seen == set(REFERENCE_PALETTES)


@pytest.mark.parametrize("key", sorted(REFERENCE_PALETTES))
def test_palette_colours_are_well_formed(key: str) -> None:
    names = [n for n, _ in REFERENCE_PALETTES[key]]
    assert len(set(names)) == len(names)
    assert all(len(c) == 7 and c.startswith("#") for _, c in REFERENCE_PALETTES[key])
