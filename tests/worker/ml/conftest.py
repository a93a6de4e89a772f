"""Fixtures for the ML core tests: a tiny random teacher, small taxonomies, a synthetic dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from app.domain.mapping import VOID, OntologyMapping
from app.domain.priors import CompiledPriors, compile_priors
from app.domain.taxonomy import Label, Taxonomy, class_list_taxonomy

torch.set_num_threads(2)

TARGET_NAMES = ("road", "car", "vegetation", "sky")


@pytest.fixture(scope="session")
def target() -> Taxonomy:
    return class_list_taxonomy("tiny-target", enumerate(TARGET_NAMES))


@pytest.fixture(scope="session")
def source() -> Taxonomy:
    """Source labels: 0 unlabeled (void), 1 road, 2 vehicle (car|road ambiguous), 3 tree, 4 sky,
    5 thing (unmapped), 7 grass (vegetation|void); value 6 is in no label."""
    return Taxonomy(
        name="tiny-source",
        labels=(
            Label(0, "unlabeled", "#000000"),
            Label(1, "road", "#804080"),
            Label(2, "vehicle", "#00008e"),
            Label(3, "tree", "#6b8e23"),
            Label(4, "sky", "#4682b4"),
            Label(5, "thing", "#ff0000"),
            Label(7, "grass", "#98fb98"),
        ),
    )


@pytest.fixture(scope="session")
def mapping() -> OntologyMapping:
    return OntologyMapping(
        frozenset(
            {
                ("unlabeled", VOID),
                ("road", 0),
                ("vehicle", 1),
                ("vehicle", 0),
                ("tree", 2),
                ("sky", 3),
                ("grass", 2),
                ("grass", VOID),
            }
        )
    )


@pytest.fixture(scope="session")
def compiled(mapping: OntologyMapping, source: Taxonomy, target: Taxonomy) -> CompiledPriors:
    return compile_priors(mapping, source, target)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, target: Taxonomy) -> Path:
    """A unilabel checkpoint folder of a tiny random Mask2Former over the target classes."""
    from worker.ml.checkpoints import save_checkpoint
    from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config

    torch.manual_seed(0)
    model = build_mask2former(tiny_config(target.id2label()))
    out = tmp_path_factory.mktemp("models") / "tiny"
    save_checkpoint(
        model,
        out,
        class_names=target.names,
        normalization=IMAGENET_NORMALIZATION,
        provenance={"note": "random tiny test model"},
    )
    return out


@pytest.fixture
def teacher(tiny_model_dir: Path):  # type: ignore[no-untyped-def]
    from worker.ml.checkpoints import load_model

    return load_model(tiny_model_dir)


MakeDataset = Callable[..., Path]


@pytest.fixture
def make_dataset(tmp_path: Path) -> MakeDataset:
    """Write ``n`` random RGB images + 8-bit label maps under ``images/train`` and ``labels/train``."""

    def make(
        n: int = 4, size: tuple[int, int] = (40, 56), seed: int = 0, values=(0, 1, 2, 3, 4, 5, 6, 7)
    ) -> Path:
        rng = np.random.default_rng(seed)
        root = tmp_path / "dataset"
        for i in range(n):
            h, w = size if i % 3 != 2 else (size[0] + 8, size[1])
            img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            lab = rng.choice(np.array(values, dtype=np.uint8), size=(h, w))
            (root / "images" / "train").mkdir(parents=True, exist_ok=True)
            (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / "images" / "train" / f"img{i:03d}.png")
            Image.fromarray(lab).save(root / "labels" / "train" / f"img{i:03d}_labelids.png")
        return root

    return make
