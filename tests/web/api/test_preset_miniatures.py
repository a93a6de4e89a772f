"""Every preset, end to end through the API: a miniature of each layout variant is generated from the
preset's own pattern and template (two tiny pairs per split), registered as "preset + root" and
scanned; readable variants pair every image and decode every label pixel, variants that need a
converter are refused naming it, presets without a known layout ask for a pattern."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.domain.dataset_presets import DatasetPreset, PaletteSource, PresetVariant
from app.domain.label_codec import LabelEncoding
from app.domain.native_labels import IMPLEMENTED
from app.domain.preset_catalog import PRESETS
from tests import preset_layouts as L

Headers = dict[str, str]
CASES = [(p.key, v.key) for p in PRESETS.values() for v in p.variants]
COLORS = ["#ff0000", "#00ff00", "#0000ff"]


def _fill(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], text)


def _rgb_text(color: str, sep: str = ",") -> str:
    return sep.join(str(c) for c in L.hex_rgb(color))


PALETTE_FILES = {  # a miniature palette file in each format, and the values it gives COLORS
    "a2d2_class_list": (lambda: json.dumps({c: f"Class{i} 1" for i, c in enumerate(COLORS)}), 1),
    "camvid_class_dict": (
        lambda: "name,r,g,b\n" + "".join(f"k{i},{_rgb_text(c)}\n" for i, c in enumerate(COLORS)),
        0,
    ),
    "camvid_label_colors": (lambda: "".join(f"{_rgb_text(c, ' ')}\tk{i}\n" for i, c in enumerate(COLORS)), 0),
}


def _write_palette(root: Path, variant: PresetVariant) -> list[tuple[str, int, str]]:
    """Write the variant's palette file (if any); return the labels.csv rows the miniature needs."""
    palette = variant.palette
    if palette is None or palette.source is PaletteSource.TAXONOMY:
        return [("void", 0, "#000000"), ("a", 1, COLORS[0]), ("b", 2, COLORS[1]), ("c", 3, COLORS[2])]
    if palette.source is PaletteSource.BUILTIN:
        return [(name, i, "") for i, (_, name) in enumerate(palette.colors)]
    rel, fmt = palette.files[0]
    text, first = PALETTE_FILES[fmt]
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text())
    return [("void", 0, "")] * first + [(f"k{i}", i + first, "") for i in range(3)]


def _label(path: Path, variant: PresetVariant) -> None:
    if variant.converter is not None:  # the stored format, not readable: any bytes do
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"{}")
    elif variant.encoding is LabelEncoding.RGB:
        colors = (
            [c for c, _ in variant.palette.colors] if variant.palette and variant.palette.colors else COLORS
        )
        L.rgb_png(path, L.stripes(colors[:3]))
    else:
        L.ids_png(path, np.ones((L.H, L.W), dtype=np.uint8))


def _miniature(root: Path, preset: DatasetPreset, variant: PresetVariant) -> int:
    """Two images per split (one 'split' when the layout has none); returns the number of images."""
    splits = preset.splits or ("",)
    fields = set(re.findall(r"\{(\w+)\}", variant.image_pattern))
    count = 0
    for split in splits if "split" in fields else ("",):
        for i in range(2):
            values = {f: f"{f[:1]}{i}" for f in fields} | {"split": split}
            image = root / _fill(variant.image_pattern, values)
            if variant.converter is None:
                L.image(image, i)
            else:  # Waymo's Parquet files: the scan refuses before reading them
                image.parent.mkdir(parents=True, exist_ok=True)
                image.write_bytes(b"x")
            if variant.label_template is not None:
                _label(root / _fill(variant.label_template, values), variant)
            count += 1
    return count


@pytest.mark.parametrize(("key", "variant_key"), CASES)
def test_each_preset_variant_registers_and_scans_its_miniature(
    client: TestClient, editor: Headers, settings: Settings, key: str, variant_key: str
) -> None:
    preset = PRESETS[key]
    variant = preset.variant(variant_key)
    assert variant is not None
    root = settings.data_dir / key
    root.mkdir(parents=True)
    rows = _write_palette(root, variant)
    images = _miniature(root, preset, variant)
    files = {"file": ("labels.csv", L.labels_csv(rows).encode(), "text/csv")}
    name = preset.taxonomy_name or f"{key}-labels"
    r = client.post("/api/v1/taxonomies/import", files=files, data={"name": name}, headers=editor)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = {"preset": key, "root": str(root), "variant": variant_key}
    if preset.taxonomy_name is None:
        body["taxonomy_id"] = r.json()["id"]
    r = client.post("/api/v1/datasets", json=body, headers=editor)
    if variant.converter in IMPLEMENTED:  # converted by a job (tests/jobs/test_label_conversion_job.py)
        assert r.status_code == 201 and r.json()["conversion_job_id"] is not None, r.text
        return
    if variant.converter is not None:
        assert r.status_code == 422 and variant.converter in r.json()["error"]["message"]
        return
    assert r.status_code == 201, r.text
    scan = r.json()["scan"]
    assert scan["pairs"] == images and scan["problem_count"] == 0, scan
    assert scan["unknown_values"] == [] and scan["unknown_colors"] == []
    assert scan["preset"]["variant"] == variant_key and scan["preset"]["unmatched"] == {}
    if "{split}" in variant.image_pattern:
        assert scan["per_split"] == {s: 2 for s in preset.splits}


@pytest.mark.parametrize("key", [p.key for p in PRESETS.values() if not p.variants])
def test_a_preset_without_a_layout_asks_for_a_pattern(
    client: TestClient, editor: Headers, settings: Settings, key: str
) -> None:
    (settings.data_dir / key).mkdir(parents=True)
    r = client.post(
        "/api/v1/datasets", json={"preset": key, "root": str(settings.data_dir / key)}, headers=editor
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "image_pattern"
