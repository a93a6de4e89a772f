"""The experiment demo (worker layer): the paper's method in miniature, made locally by ``demo ml``.

The synthetic driving scenes of :mod:`worker.demo_scenes` (those of
``benchmarks/mini_reproduction.py``) become three registered datasets under
``<data_dir>/demo/scenes/``:

* ``demo-scenes-source``: fine labels (8 classes); ``train`` is clear weather only, ``val`` cycles
  through all four conditions (the held-out set on which teacher and student are compared);
* ``demo-scenes-extra-a`` (fog, rain) and ``demo-scenes-extra-b`` (dusk, clear): coarse labels
  only (road / vegetation / sky / object), so their appearance is new to the teacher and their
  labels too coarse to train on directly. Their hidden fine truth lies beside them under
  ``hidden-fine/<dataset>/<split>/NNNN.png``, outside every dataset's root, for scoring.

Two approved mappings into the fine target (identity, and coarse -> every fine class it covers)
and the spec file ``<data_dir>/demo/experiment.yaml`` that names them complete the experiment.
Everything is deterministic (fixed seeds), nothing is downloaded, and a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.domain.taxonomy import Label, Taxonomy
from worker.demo_scenes import COARSE_CLASSES, FINE_CLASSES, FINE_TO_COARSE, make_scene

EXPERIMENT = "demo-scenes"
FINE_NAME, COARSE_NAME = "demo-scenes-fine", "demo-scenes-coarse"
SOURCE_DATASET = "demo-scenes-source"
EXTRA_DATASETS = ("demo-scenes-extra-a", "demo-scenes-extra-b")
IDENTITY_MAPPING, COARSE_MAPPING = "demo-scenes-fine-identity", "demo-scenes-coarse-to-fine"
SCENE_SIZE = (96, 128)  # (H, W): the quick preset's crop size, so crops are not upsampled much
IMAGE_PATTERN = "images/{split}/{stem}.png"
LABEL_TEMPLATE = "labels/{split}/{stem}.png"

_FINE_COLORS = ("#804080", "#8c6e5a", "#dcdcdc", "#6b8e23", "#98fb98", "#4682b4", "#00008e", "#464646")
_COARSE_COLORS = ("#804080", "#6b8e23", "#4682b4", "#dc143c")
FINE = Taxonomy(
    name=FINE_NAME,
    description="The demo experiment's target: 8 fine classes of the synthetic scenes",
    labels=tuple(Label(i, n, c) for i, (n, c) in enumerate(zip(FINE_CLASSES, _FINE_COLORS, strict=True))),
)
COARSE = Taxonomy(
    name=COARSE_NAME,
    description="Coarse labels of the demo experiment's extras (no void: every pixel is labelled)",
    labels=tuple(Label(i, n, c) for i, (n, c) in enumerate(zip(COARSE_CLASSES, _COARSE_COLORS, strict=True))),
)
IDENTITY_EDGES: tuple[tuple[str, int], ...] = tuple((name, i) for i, name in enumerate(FINE_CLASSES))
COARSE_EDGES: tuple[tuple[str, int], ...] = tuple(
    (COARSE_CLASSES[c], f) for f, c in enumerate(FINE_TO_COARSE.tolist())
)


@dataclass(frozen=True, slots=True)
class SceneSet:
    """One demo dataset: its scene counts per split, the conditions cycled per split, and its seed."""

    name: str
    coarse: bool
    counts: dict[str, int]
    conditions: dict[str, tuple[str, ...]]
    seed: int
    description: str


SCENE_SETS = (
    SceneSet(
        SOURCE_DATASET,
        False,
        {"train": 32, "val": 16},
        {"train": ("clear",), "val": ("clear", "fog", "dusk", "rain")},
        101,
        "synthetic scenes with fine labels: clear weather (train); all four conditions (val)",
    ),
    SceneSet(
        EXTRA_DATASETS[0],
        True,
        {"train": 32, "val": 8},
        {"train": ("fog", "rain"), "val": ("fog", "rain")},
        102,
        "synthetic scenes in fog and rain with coarse labels only",
    ),
    SceneSet(
        EXTRA_DATASETS[1],
        True,
        {"train": 32, "val": 8},
        {"train": ("dusk", "clear"), "val": ("dusk", "clear")},
        103,
        "synthetic scenes at dusk and in clear weather with coarse labels only",
    ),
)


def write_scene_set(
    scene_set: SceneSet,
    root: Path,
    hidden_root: Path,
    *,
    size: tuple[int, int] = SCENE_SIZE,
    max_count: int | None = None,
) -> None:
    """Write ``scene_set`` as ``root/{images,labels}/<split>/NNNN.png`` (and its hidden fine truth).

    ``size`` is each scene's (H, W); ``max_count`` caps the scenes per split (tests make the demo
    small with both). The files appear all at once: they are written to sibling temporary folders
    and renamed, so an interrupted run leaves no half-written dataset behind (the next run starts
    it again).
    """
    from PIL import Image

    rng = np.random.default_rng(scene_set.seed)
    staging, hidden_staging = _fresh(root), _fresh(hidden_root) if scene_set.coarse else None
    for split, count in scene_set.counts.items():
        conditions = scene_set.conditions[split]
        for i in range(count if max_count is None else min(count, max_count)):
            image, fine = make_scene(rng, *size, condition=conditions[i % len(conditions)])
            stem = f"{i:04d}.png"
            _save(Image.fromarray(image), staging / "images" / split / stem)
            if hidden_staging is None:
                _save(Image.fromarray(fine), staging / "labels" / split / stem)
            else:
                _save(Image.fromarray(FINE_TO_COARSE[fine]), staging / "labels" / split / stem)
                _save(Image.fromarray(fine), hidden_staging / split / stem)
    if hidden_staging is not None:
        _publish(hidden_staging, hidden_root)
    _publish(staging, root)  # last: a dataset folder exists only once everything is written


def _fresh(final: Path) -> Path:
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _publish(staging: Path, final: Path) -> None:
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)


def _save(image: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def make_scene_sets(
    base: Path,
    *,
    size: tuple[int, int] = SCENE_SIZE,
    max_count: int | None = None,
    scene_sets: tuple[SceneSet, ...] = SCENE_SETS,
) -> dict[str, Path]:
    """Write every demo scene set under ``base`` that is not there yet; dataset name -> root.

    ``size`` and ``max_count``: see :func:`write_scene_set` (the defaults make the full demo);
    ``scene_sets``: other sets than the demo's (``benchmarks/mini_reproduction.py``).
    """
    roots = {}
    for scene_set in scene_sets:
        root = base / scene_set.name
        if not (root / "images").is_dir():
            hidden = base / "hidden-fine" / scene_set.name
            write_scene_set(scene_set, root, hidden, size=size, max_count=max_count)
        roots[scene_set.name] = root
    return roots


def experiment_spec() -> dict[str, Any]:
    """The demo experiment as a spec (the names refer to what :func:`register_experiment` registers)."""
    source = {"dataset": SOURCE_DATASET, "mapping": IDENTITY_MAPPING}
    return {
        "name": EXPERIMENT,
        "description": "Synthetic fine source + two coarse extras (the paper's method in miniature)",
        "target_taxonomy": FINE_NAME,
        "teacher": {"train": {"preset": "quick"}},
        "sources": [{**source, "split": "train"}],
        "extras": [
            {"dataset": name, "mapping": COARSE_MAPPING, "split": "train", "weight": 1.0}
            for name in EXTRA_DATASETS
        ],
        "evaluation": [
            {**source, "split": "val"},
            {"dataset": EXTRA_DATASETS[0], "mapping": COARSE_MAPPING, "split": "val"},
        ],
        "student": {"training": {"preset": "quick"}},
        "pseudo_label": {"tta": False},
        "rounds": 1,
    }


def write_spec(path: Path) -> Path:
    """Write :func:`experiment_spec` as YAML to ``path`` (rewritten each run: it is generated)."""
    import yaml

    header = "# The demo experiment, written by `unilabel demo ml` (rewritten on each run).\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(experiment_spec(), sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class ExperimentDemo:
    """What is registered, by name -> id, and whether anything was created this time."""

    datasets: dict[str, int]
    mapping_versions: dict[str, int]
    created: bool


def register_experiment(
    session: Any,
    settings: Any,
    *,
    roots: dict[str, Path],
    scene_sets: tuple[SceneSet, ...] = SCENE_SETS,
) -> ExperimentDemo:
    """Register (or find) the taxonomies, approved mappings and datasets (flush only).

    ``scene_sets``: the datasets to register (default: the demo's), each written under its ``roots``.
    """
    from app.services import users

    admin, _ = users.ensure_local_admin(session)
    created = False
    ids = {}
    for taxonomy in (FINE, COARSE):
        ids[taxonomy.name], new = _taxonomy(session, taxonomy)
        created |= new
    versions = {}
    for name, source, edges in (
        (IDENTITY_MAPPING, FINE_NAME, IDENTITY_EDGES),
        (COARSE_MAPPING, COARSE_NAME, COARSE_EDGES),
    ):
        versions[name], new = _approved_mapping(session, admin, name, ids[source], ids[FINE_NAME], edges)
        created |= new
    datasets = {}
    for scene_set in scene_sets:
        taxonomy_id = ids[COARSE_NAME if scene_set.coarse else FINE_NAME]
        datasets[scene_set.name], new = _dataset(
            session, settings, scene_set, taxonomy_id, roots[scene_set.name]
        )
        created |= new
    return ExperimentDemo(datasets, versions, created)


def _taxonomy(session: Any, taxonomy: Taxonomy) -> tuple[int, bool]:
    from app.domain.errors import NotFound
    from app.services import taxonomies

    try:
        return taxonomies.get_taxonomy_by_name(session, taxonomy.name).id, False
    except NotFound:
        return taxonomies.create_taxonomy(session, taxonomy=taxonomy).id, True


def _approved_mapping(
    session: Any, admin: Any, name: str, source_id: int, target_id: int, edges: tuple[tuple[str, int], ...]
) -> tuple[int, bool]:
    """The mapping's head version id; a missing mapping is created and approved by the local admin.

    An existing mapping is left as it is (a user's newer draft is theirs to review); creation and
    approval share one transaction, so a registered demo mapping always has an approved version.
    """
    from app.domain.errors import NotFound
    from app.services import mappings, reviews

    try:
        mapping = mappings.get_mapping_by_name(session, name)
        return int(mappings.current_version(session, mapping.id).id), False
    except NotFound:
        pass
    mapping = mappings.create_mapping(
        session,
        name=name,
        source_taxonomy_id=source_id,
        target_taxonomy_id=target_id,
        edges=edges,
        author=admin,
        description="demo experiment mapping made by `unilabel demo ml`",
    )
    version = mappings.current_version(session, mapping.id)
    reviews.submit_for_review(session, version_id=version.id, author=admin)
    # Seed content: a self-approval by the local admin, as for the ML demo's mapping.
    reviews.approve(session, version_id=version.id, reviewer=admin, message="demo mapping", four_eyes="off")
    return int(version.id), True


def _dataset(
    session: Any, settings: Any, scene_set: SceneSet, taxonomy_id: int, root: Path
) -> tuple[int, bool]:
    from app.db import repositories_registry as registry
    from app.schemas.datasets import DatasetCreate
    from app.services import datasets

    existing = registry.get_dataset_by_name(session, scene_set.name)
    if existing is not None:
        return int(existing.id), False
    row = datasets.register_dataset(
        session,
        body=DatasetCreate(
            name=scene_set.name,
            taxonomy_id=taxonomy_id,
            root=str(root),
            image_pattern=IMAGE_PATTERN,
            label_template=LABEL_TEMPLATE,
            splits=list(scene_set.counts),
            description=scene_set.description,
        ),
        settings=settings,
    )
    datasets.scan_dataset(session, row.id)
    return int(row.id), True


def make_and_register(settings: Any) -> tuple[ExperimentDemo, Path]:
    """``demo ml``'s experiment part: write the scenes, register them, write the spec file."""
    from app.db.session import make_engine, make_sessionmaker, unit_of_work

    base = settings.data_dir / "demo"
    roots = make_scene_sets(base / "scenes")
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            demo = register_experiment(session, settings, roots=roots)
    finally:
        engine.dispose()
    return demo, write_spec(base / "experiment.yaml")
