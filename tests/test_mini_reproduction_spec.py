"""The mini reproduction's spec building (``benchmarks/mini_repro_specs.py``), without training:
the spec files it writes validate as experiment specs and resolve against what it registers."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from app.cli_experiments import read_spec
from app.config import Settings
from app.db import repositories_registry as registry
from app.db.models_registry import Model
from app.db.session import unit_of_work
from app.schemas.experiments import ExperimentSpec
from app.services import datasets, taxonomies
from app.services.experiment_specs import resolve
from worker.demo_experiment import FINE_NAME
from worker.demo_scenes import CONDITIONS, FINE_TO_COARSE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import mini_repro_specs as mr  # noqa: E402

TINY = mr.Sizes(16, 32, source=2, val=4, extra=3, test=1, iterations=2, samples_per_epoch=4, val_every=1)


@pytest.fixture
def registered(session_factory: sessionmaker[Session], settings: Settings) -> dict[str, int]:
    with unit_of_work(session_factory) as s:
        ids = mr.register(s, settings, settings.data_dir / "scenes", TINY)
    with unit_of_work(session_factory) as s:
        again = mr.register(s, settings, settings.data_dir / "scenes", TINY)
    assert again == ids  # a second registration finds everything
    return ids


def _resolved(session: Session, path: Path) -> dict[str, Any]:
    spec = ExperimentSpec.model_validate(read_spec(path))
    return resolve(session, spec)


@pytest.mark.parametrize("sizes", [TINY, mr.QUICK, mr.FULL], ids=["tiny", "quick", "full"])
def test_the_method_and_ablation_specs_resolve(
    registered: dict[str, int], session: Session, tmp_path: Path, sizes: mr.Sizes
) -> None:
    method = mr.write_spec(tmp_path / "method.yaml", mr.method_spec(sizes, seed=3), "method")
    resolved = _resolved(session, method)
    assert resolved["target_taxonomy"] == FINE_NAME
    assert resolved["teacher"]["train"]["max_iterations"] == sizes.iterations
    assert resolved["teacher"]["train"]["seed"] == 3
    assert resolved["student"]["training"]["crop_size"] == [sizes.height, sizes.width]
    assert resolved["pseudo_label"]["use_priors"] is True
    assert [e["dataset"] for e in resolved["extras"]] == list(mr.EXTRAS)
    evaluation = resolved["evaluation"]
    names = [e["name"] for e in evaluation]
    assert names == [
        "val",
        "test",
        *(f"test-{c}" for c in CONDITIONS),
        "extra-a-fine-truth",
        "extra-b-fine-truth",
    ]
    # Only the source's val split picks checkpoints (evaluation sets of a source dataset validate).
    sources = {s["dataset_id"] for s in resolved["sources"]}
    assert [e["name"] for e in evaluation if e["dataset_id"] in sources] == ["val"]

    target = taxonomies.get_taxonomy_by_name(session, FINE_NAME).id
    teacher = Model(
        name="experiment-1-run-1-teacher", source="folder", spec=str(tmp_path), taxonomy_id=target
    )
    session.add(teacher)
    session.commit()
    ablation = mr.write_spec(tmp_path / "ablation.yaml", mr.ablation_spec(sizes, 3, teacher.name), "ablation")
    resolved = _resolved(session, ablation)
    assert resolved["teacher"]["model_id"] == teacher.id and resolved["teacher"]["train"] is None
    assert resolved["pseudo_label"]["use_priors"] is False
    assert mr.ablation_name(3) != mr.method_name(3)


def test_the_fine_truth_datasets_pair_the_extras_images_with_their_hidden_fine_labels(
    registered: dict[str, int], session: Session
) -> None:
    for extra in mr.EXTRAS:
        coarse = registry.get_dataset_by_name(session, extra)
        fine = registry.get_dataset_by_name(session, mr.fine_truth(extra))
        assert coarse is not None and fine is not None
        coarse_pairs = datasets.pair_dataset(coarse, split="train").pairs
        fine_pairs = datasets.pair_dataset(fine, split="train").pairs
        assert len(coarse_pairs) == len(fine_pairs) == TINY.extra
        for c, f in zip(coarse_pairs, fine_pairs, strict=True):
            assert Path(fine.root, f.image).read_bytes() == Path(coarse.root, c.image).read_bytes()
            labels = np.asarray(Image.open(Path(fine.root, str(f.label))))
            assert labels.shape == (TINY.height, TINY.width)
            assert (FINE_TO_COARSE[labels] == np.asarray(Image.open(Path(coarse.root, str(c.label))))).all()
    test = registry.get_dataset_by_name(session, mr.TEST)
    assert test is not None
    assert {
        split: len(datasets.pair_dataset(test, split=split).pairs) for split in CONDITIONS
    } == dict.fromkeys(CONDITIONS, TINY.test)
