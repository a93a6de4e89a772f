"""``unilabel train`` from a JSON spec: a ground-truth set mapped by its mapping file + a pseudo-label set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer
from PIL import Image
from typer.testing import CliRunner

from app.domain.mapping import VOID, OntologyMapping
from app.domain.reference_csv import format_labels_csv, format_master_labels_csv
from app.domain.taxonomy import Label, Taxonomy, class_list_taxonomy
from worker.cli_train import register_train

TARGET = class_list_taxonomy("mini", enumerate(("road", "car", "sky")))
SOURCE = Taxonomy(
    name="src",
    labels=(
        Label(0, "unlabeled"),
        Label(1, "street"),
        Label(2, "vehicle"),
        Label(3, "heaven"),
        Label(4, "thing"),
    ),
)
MAPPING = OntologyMapping.from_edges(
    [("unlabeled", VOID), ("street", 0), ("vehicle", 1), ("vehicle", 0), ("heaven", 2)]
)


def _write_dataset(root: Path, labels: list[np.ndarray]) -> None:
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    for i, label in enumerate(labels):
        Image.fromarray(rng.integers(0, 255, (*label.shape, 3), dtype=np.uint8)).save(
            root / "images" / f"{i}.png"
        )
        Image.fromarray(label.astype(np.uint8)).save(root / "labels" / f"{i}.png")


def test_train_command_runs_from_a_spec(tmp_path: Path) -> None:
    raw = np.zeros((32, 48), dtype=np.uint8)
    raw[:10], raw[10:20], raw[20:] = 3, 2, 1
    _write_dataset(tmp_path / "gt", [raw, raw])
    pseudo = np.where(raw == 3, 2, np.where(raw == 2, 255, 0))
    _write_dataset(tmp_path / "extra", [pseudo])
    run_dir = tmp_path / "pl-run" / "labels" / "labels"
    run_dir.mkdir(parents=True)
    Image.fromarray(pseudo.astype(np.uint8)).save(run_dir / "0.png")
    (tmp_path / "labels.csv").write_text(format_labels_csv(SOURCE))
    (tmp_path / "master_labels_mini.csv").write_text(format_master_labels_csv(TARGET, MAPPING, SOURCE))
    gt = {
        "root": "gt",
        "images": "images/{stem}.png",
        "labels": "labels/{stem}.png",
        "source_taxonomy": "labels.csv",
        "mapping": "master_labels_mini.csv",
    }
    spec = {
        "target": "master_labels_mini.csv",
        "train_sets": [
            {"name": "gt", "kind": "ground_truth", "weight": 2.0, **gt},
            {
                "name": "pl",
                "kind": "pseudo_labels",
                "root": "extra",
                "images": "images/{stem}.png",
                "labels": "labels/{stem}.png",
                "run_dir": "pl-run",
            },
        ],
        "val_sets": [{"name": "val", **gt}],
        "recipe": {"batch_size": 2, "log_every": 1, "augment": {"crop_size": [32, 32]}},
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    app = typer.Typer()
    register_train(app)
    app.command("noop")(lambda: None)  # typer runs a lone command without its name otherwise
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", "--spec", str(tmp_path / "spec.json"), "--out", str(out), "--iterations", "2", "--cpu"]
    )
    assert result.exit_code == 0, result.output
    assert "stopped: completed at iteration 2/2" in result.output
    config = json.loads((out / "config.json").read_text())
    assert config["class_names"] == ["road", "car", "sky"] and config["batch_size"] == 2
    # No preset named: the paper's values under the spec's own (augment merged key by key).
    assert config["epochs"] == 100 and config["mixture"] == "by_size" and config["fitness"] == "paper"
    assert config["augment"]["crop_size"] == [32, 32] and config["augment"]["crop_fraction"] == [0.67, 0.95]
    assert config["augment"]["shear_deg"] == 2.0 and config["early_stopping_patience"] == 15
    meta = json.loads((out / "checkpoints" / "best" / "unilabel.json").read_text())
    sets = meta["provenance"]["training"]["train_sets"]
    assert [(s["name"], s["kind"], s["weight"]) for s in sets] == [
        ("gt", "ground_truth", 2.0),
        ("pl", "pseudo_labels", 1.0),
    ]
    assert len(sets[0]["mapping_hash"]) == 64


def test_train_command_reports_a_bad_spec(tmp_path: Path) -> None:
    (tmp_path / "spec.json").write_text(json.dumps({"target": "missing.csv", "train_sets": []}))
    app = typer.Typer()
    register_train(app)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(
        app, ["train", "--spec", str(tmp_path / "spec.json"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "missing.csv" in result.output
