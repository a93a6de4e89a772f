"""``unilabel dataset presets`` and ``unilabel dataset add --preset ... --root ...``: a Cityscapes
miniature is registered and scanned from the command line; refusals exit 1 with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from tests import preset_layouts as L

runner = CliRunner()

CITYSCAPES_CSV = L.labels_csv(
    [("unlabeled", 0, "#000000"), ("road", 7, "#804080"), ("building", 11, "#464646")]
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    lists = tmp_path / "reference" / "cityscapes"
    lists.mkdir(parents=True)
    (lists / "labels.csv").write_text(CITYSCAPES_CSV)
    result = runner.invoke(app, ["taxonomy", "import", str(lists / "labels.csv")])
    assert "'cityscapes'" in result.output, result.output
    return tmp_path


def test_presets_lists_every_dataset_with_its_layout(env: Path) -> None:
    result = runner.invoke(app, ["dataset", "presets"])
    assert result.exit_code == 0, result.output
    assert (
        "cityscapes" in result.output and "gtFine/{split}/{city}/{frame}_gtFine_labelIds.png" in result.output
    )
    assert "needs the waymo-parquet converter (not implemented)" in result.output
    assert "nuimages labels, converted to label-id PNGs by a convert_labels job" in result.output
    assert "coco-panoptic labels, converted to label-id PNGs by a convert_labels job" in result.output
    keys = [p["key"] for p in json.loads(runner.invoke(app, ["dataset", "presets", "--json"]).output)]
    assert len(keys) == 21 and "yamaha" in keys


def test_add_with_preset_and_root_registers_and_reports_per_split(env: Path) -> None:
    root = L.cityscapes(env / "data" / "cityscapes").root
    result = runner.invoke(app, ["dataset", "add", "--preset", "cityscapes", "--root", str(root)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "registered dataset 1 'cityscapes' (preset cityscapes, variant labelids)" in out
    assert "4 pairs, 0 problems" in out
    assert "split train: 2 images, 2 with labels" in out and "split test: 1 images, 1 with labels" in out
    assert "not part of the preset: notes/ (1 files)" in out
    # a second registration of the same folder needs another name
    again = runner.invoke(app, ["dataset", "add", "--preset", "cityscapes", "--root", str(root)])
    assert again.exit_code == 1 and "already exists" in again.output


def test_add_queues_the_polygon_conversion_and_refuses_a_root_outside_the_data_roots(env: Path) -> None:
    root = L.cityscapes(env / "data" / "poly", polygons_only=True).root
    result = runner.invoke(app, ["dataset", "add", "--preset", "cityscapes", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert "cityscapes-polygons labels: conversion to label-id PNGs queued as job 1" in result.output
    outside = L.cityscapes(env / "elsewhere").root
    result = runner.invoke(app, ["dataset", "add", "--preset", "cityscapes", "--root", str(outside)])
    assert result.exit_code == 1 and "outside the allowed data roots" in result.output
    listed = runner.invoke(app, ["dataset", "add", "--preset", "nope", "--root", str(root)])
    assert listed.exit_code == 1 and "known presets" in listed.output


def test_add_without_a_preset_takes_an_explicit_rule_and_a_taxonomy_by_name(env: Path) -> None:
    root = L.kitti(env / "data" / "kitti").root
    args = ["dataset", "add", "--root", str(root), "--name", "k", "--taxonomy", "cityscapes"]
    rule = [
        "--image-pattern",
        "training/image_2/{stem}.png",
        "--label-template",
        "training/semantic/{stem}.png",
    ]
    result = runner.invoke(app, [*args, *rule, "--json"])
    assert result.exit_code == 0, result.output
    d = json.loads(result.output)
    assert d["preset"] is None and d["scan"]["pairs"] == 2 and d["label_encoding"] == "ids8"
    missing = runner.invoke(app, ["dataset", "add", "--root", str(root), "--name", "k2", *rule])
    assert missing.exit_code == 1 and "taxonomy_id" in missing.output
