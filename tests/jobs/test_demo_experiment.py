"""``unilabel demo ml`` also makes and registers the demo experiment's scenes, mappings and spec file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
import yaml
from PIL import Image
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.schemas.experiments import ExperimentSpec
from app.services import datasets, mappings, taxonomies
from app.services.experiment_specs import resolve
from worker.demo import register
from worker.demo_experiment import make_scene_sets
from worker.demo_scenes import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE

EXPECTED_SPLITS = {
    "demo-scenes-source": ("demo-scenes-fine", {"train": 32, "val": 16}),
    "demo-scenes-extra-a": ("demo-scenes-coarse", {"train": 32, "val": 8}),
    "demo-scenes-extra-b": ("demo-scenes-coarse", {"train": 32, "val": 8}),
}


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(typer.Typer(), name="demo")
    register(app)
    return app


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.png"))
    }


@pytest.fixture
def demo_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("UNILABEL_DATABASE_URL", database_url)
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(data))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    return data


@pytest.mark.slow
def test_demo_ml_registers_the_experiment_once(demo_env: Path, database_url: str) -> None:
    first = CliRunner().invoke(_cli(), ["demo", "ml", "--count", "4"])
    assert first.exit_code == 0, first.output
    assert "demo experiment registered" in first.output
    spec_path = demo_env / "demo" / "experiment.yaml"
    files = _digest(demo_env / "demo" / "scenes")
    spec_text = spec_path.read_text()

    again = CliRunner().invoke(_cli(), ["demo", "ml"])
    assert again.exit_code == 0, again.output
    assert "demo experiment already registered" in again.output
    assert _digest(demo_env / "demo" / "scenes") == files
    assert spec_path.read_text() == spec_text

    spec = yaml.safe_load(spec_text)
    engine = make_engine(database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            _check_registered(session, spec)
    finally:
        engine.dispose()


def _check_registered(session: Session, spec: dict[str, Any]) -> None:
    from app.db import repositories_registry as registry

    target = taxonomies.get_taxonomy_by_name(session, "demo-scenes-fine")
    coarse = taxonomies.get_taxonomy_by_name(session, "demo-scenes-coarse")
    assert [label.name for label in taxonomies.list_labels(session, target.id)] == list(FINE_CLASSES)
    assert [label.name for label in taxonomies.list_labels(session, coarse.id)] == list(COARSE_CLASSES)
    assert spec["target_taxonomy"] == target.name
    for name, (taxonomy, counts) in EXPECTED_SPLITS.items():
        row = registry.get_dataset_by_name(session, name)
        assert row is not None and row.taxonomy_id in (target.id, coarse.id)
        assert taxonomies.get_taxonomy(session, row.taxonomy_id).name == taxonomy
        for split, count in counts.items():
            assert len(datasets.pair_dataset(row, split=split).pairs) == count
    uses = [*spec["sources"], *spec["extras"], *spec["evaluation"]]
    for use in uses:
        dataset = registry.get_dataset_by_name(session, use["dataset"])
        assert dataset is not None, use
        assert use["split"] in EXPECTED_SPLITS[use["dataset"]][1]
        mapping = mappings.get_mapping_by_name(session, use["mapping"])
        assert mapping.source_taxonomy_id == dataset.taxonomy_id
        assert mapping.target_taxonomy_id == target.id
        version = mappings.current_version(session, mapping.id)
        assert (version.status, version.number) == ("approved", 1)
    identity = mappings.get_mapping_by_name(session, "demo-scenes-fine-identity")
    edges = mappings.version_edges(mappings.current_version(session, identity.id)).edges
    assert edges == {(name, i) for i, name in enumerate(FINE_CLASSES)}
    many = mappings.get_mapping_by_name(session, "demo-scenes-coarse-to-fine")
    edges = mappings.version_edges(mappings.current_version(session, many.id)).edges
    assert edges == {(COARSE_CLASSES[c], f) for f, c in enumerate(FINE_TO_COARSE.tolist())}
    assert spec["teacher"] == {"train": {"preset": "quick"}}
    assert spec["student"] == {"training": {"preset": "quick"}}
    # The experiment service resolves every name of the spec to a registered, approved input.
    resolved = resolve(session, ExperimentSpec.model_validate(spec))
    assert resolved["target_taxonomy_id"] == target.id
    assert len(resolved["extras"]) == 2 and len(resolved["evaluation"]) == 2


def test_scenes_are_deterministic_and_hide_the_fine_truth_outside_the_datasets(tmp_path: Path) -> None:
    roots = make_scene_sets(tmp_path / "a")
    make_scene_sets(tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    for name in ("demo-scenes-extra-a", "demo-scenes-extra-b"):
        hidden = tmp_path / "a" / "hidden-fine" / name
        assert not hidden.is_relative_to(roots[name])
        for split, count in EXPECTED_SPLITS[name][1].items():
            stems = sorted(p.name for p in (hidden / split).glob("*.png"))
            assert len(stems) == count
            fine = np.asarray(Image.open(hidden / split / stems[0]))
            coarse = np.asarray(Image.open(roots[name] / "labels" / split / stems[0]))
            assert (FINE_TO_COARSE[fine] == coarse).all()
    source = np.asarray(Image.open(roots["demo-scenes-source"] / "labels" / "train" / "0000.png"))
    assert source.shape == (96, 128) and source.max() < len(FINE_CLASSES)
    assert not list(tmp_path.rglob("*.partial"))
