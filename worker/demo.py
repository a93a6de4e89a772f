"""The ML demo (worker layer): a synthetic street dataset and a tiny random teacher, made locally.

``unilabel demo ml`` (run by ``make run`` after ``demo load``) writes both under
``<data_dir>/demo/``, registers a source taxonomy, a 4-class target taxonomy, an *approved*
mapping between them, the dataset and the teacher — so a newcomer can submit a pseudo-labeling
job from the browser at once — and the demo experiment's scenes, datasets, mappings and spec file
(:mod:`worker.demo_experiment`). Nothing is downloaded; it is idempotent. The builders are also used
by the job tests and the worker benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from app.demo import ML_DEMO_DATASET, ML_DEMO_MAPPING, ML_DEMO_MODEL, ML_DEMO_SOURCE, ML_DEMO_TARGET
from app.domain.mapping import VOID
from app.domain.taxonomy import Label, Taxonomy
from worker.demo_experiment import make_and_register

SOURCE = Taxonomy(
    name=ML_DEMO_SOURCE,
    description="Synthetic street scenes made by `unilabel demo ml`",
    labels=(
        Label(0, "unlabeled", "#000000", "void", True),
        Label(1, "road", "#804080", "flat"),
        Label(2, "sidewalk", "#f423e8", "flat"),
        Label(3, "car", "#00008e", "vehicle"),
        Label(4, "truck", "#004664", "vehicle"),
        Label(5, "tree", "#6b8e23", "nature"),
        Label(6, "grass", "#98fb98", "nature"),
        Label(7, "sky", "#4682b4", "sky"),
    ),
)
# Colours that match the meaning, and the source's: drivable is road's Cityscapes purple-grey,
# vehicle car's navy, vegetation tree's olive green, sky the same steel blue as the source sky.
TARGET = Taxonomy(
    name=ML_DEMO_TARGET,
    description="Four target classes of the demo teacher",
    labels=(
        Label(0, "drivable", "#804080"),
        Label(1, "vehicle", "#00008e"),
        Label(2, "vegetation", "#6b8e23"),
        Label(3, "sky", "#4682b4"),
    ),
)
EDGES: tuple[tuple[str, int], ...] = (
    ("unlabeled", VOID),
    ("road", 0),
    ("sidewalk", 0),
    ("car", 1),
    ("truck", 1),
    ("tree", 2),
    ("grass", 2),
    ("grass", VOID),
    ("sky", 3),
)
IMAGE_PATTERN = "images/{split}/{stem}.png"
LABEL_TEMPLATE = "labels/{split}/{stem}.png"
_PALETTE = {
    1: (90, 90, 95),
    2: (150, 140, 130),
    3: (200, 30, 30),
    4: (40, 60, 160),
    5: (40, 110, 40),
    6: (110, 180, 90),
    7: (140, 180, 230),
    0: (0, 0, 0),
}


def synthetic_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """One scene: ``(H, W, 3)`` uint8 image and ``(H, W)`` uint8 label values of :data:`SOURCE`."""
    label = np.full((height, width), 7, dtype=np.uint8)
    horizon = int(height * rng.uniform(0.35, 0.55))
    label[horizon:] = 1
    curb = int(width * rng.uniform(0.05, 0.25))
    label[horizon:, :curb] = 2
    label[horizon - height // 6 : horizon, : width // 3] = 5
    label[horizon - height // 10 : horizon, width // 3 : width // 2] = 6
    for _ in range(int(rng.integers(1, 4))):
        h, w = int(height * 0.15), int(width * rng.uniform(0.12, 0.25))
        y = int(rng.integers(horizon - h // 2, max(horizon - h // 2 + 1, height - h)))
        x = int(rng.integers(0, max(1, width - w)))
        label[y : y + h, x : x + w] = 3 if rng.random() < 0.7 else 4
    label[:2, :] = 0
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for value, rgb in _PALETTE.items():
        image[label == value] = rgb
    noise = rng.integers(-12, 13, size=image.shape)
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8), label


def make_dataset(
    root: Path,
    *,
    count: int = 24,
    height: int = 96,
    width: int = 128,
    seed: int = 0,
    splits: tuple[str, ...] = ("train", "val"),
) -> Path:
    """Write ``count`` scenes as ``images/<split>/NNNN.png`` + ``labels/<split>/NNNN.png``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(count):
        split = splits[i % len(splits)]
        image, label = synthetic_scene(rng, height, width)
        for sub, array in (("images", image), ("labels", label)):
            path = root / sub / split / f"{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(path)
    return root


def make_teacher(out_dir: Path, *, seed: int = 0) -> Path:
    """A tiny random Mask2Former over :data:`TARGET`'s classes, as a unilabel checkpoint folder."""
    import torch

    from worker.ml.checkpoints import save_checkpoint
    from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config

    torch.manual_seed(seed)
    model = build_mask2former(tiny_config(TARGET.id2label()))
    return save_checkpoint(
        model,
        out_dir,
        class_names=TARGET.names,
        normalization=IMAGENET_NORMALIZATION,
        provenance={"note": "random tiny demo teacher made by `unilabel demo ml`"},
    )


@dataclass(frozen=True, slots=True)
class DemoIds:
    dataset_id: int
    model_id: int
    mapping_version_id: int
    created: bool


def register_demo(session: Any, settings: Any, *, dataset_root: Path, teacher_dir: Path) -> DemoIds:
    """Register (or find) the demo taxonomies, approved mapping, dataset and model (flush only)."""
    from app.db import repositories_registry as registry
    from app.domain.errors import NotFound
    from app.schemas.datasets import DatasetCreate
    from app.schemas.models import ModelCreate
    from app.services import datasets, mappings, models, reviews, taxonomies, users

    _recolour_demo_taxonomies(session)
    existing = registry.get_dataset_by_name(session, ML_DEMO_DATASET)
    model = registry.get_model_by_name(session, ML_DEMO_MODEL)
    try:
        mapping = mappings.get_mapping_by_name(session, ML_DEMO_MAPPING)
    except NotFound:
        mapping = None
    if existing is not None and model is not None and mapping is not None:
        head = mappings.current_version(session, mapping.id)
        return DemoIds(existing.id, model.id, head.id, created=False)
    admin, _ = users.ensure_local_admin(session)
    source = _taxonomy(session, taxonomies, SOURCE)
    target = _taxonomy(session, taxonomies, TARGET)
    if mapping is None:
        mapping = mappings.create_mapping(
            session,
            name=ML_DEMO_MAPPING,
            source_taxonomy_id=source.id,
            target_taxonomy_id=target.id,
            edges=EDGES,
            author=admin,
        )
    version = mappings.current_version(session, mapping.id)
    if version.status != "approved":
        reviews.submit_for_review(session, version_id=version.id, author=admin)
        # Seed content written and approved by the local admin: recorded as a self-approval (the
        # four-eyes rule governs people's reviews, not the demo loader run from the command line).
        reviews.approve(
            session, version_id=version.id, reviewer=admin, message="demo mapping", four_eyes="off"
        )
    if existing is None:
        existing = datasets.register_dataset(
            session,
            body=DatasetCreate(
                name=ML_DEMO_DATASET,
                taxonomy_id=source.id,
                root=str(dataset_root),
                image_pattern=IMAGE_PATTERN,
                label_template=LABEL_TEMPLATE,
                splits=["train", "val"],
                description="synthetic demo scenes",
            ),
            settings=settings,
        )
        datasets.scan_dataset(session, existing.id)
    if model is None:
        model = models.register_model(
            session,
            body=ModelCreate(
                name=ML_DEMO_MODEL,
                source="folder",
                spec=str(teacher_dir),
                taxonomy_id=target.id,
                description="tiny random Mask2Former (demo only: its predictions are noise)",
            ),
            settings=settings,
        )
    return DemoIds(existing.id, model.id, version.id, created=True)


def _recolour_demo_taxonomies(session: Any) -> None:
    """Give demo taxonomies registered before they had colours (or with generated ones) the demo's."""
    from app.domain.errors import NotFound
    from app.services import taxonomies, taxonomy_labels

    for taxonomy in (SOURCE, TARGET):
        try:
            row = taxonomies.get_taxonomy_by_name(session, taxonomy.name)
        except NotFound:
            continue
        for stored, wanted in zip(taxonomies.list_labels(session, row.id), taxonomy.labels, strict=False):
            if stored.name == wanted.name and (stored.color is None or stored.color_generated):
                taxonomy_labels.recolor_label(session, row.id, position=stored.position, color=wanted.color)


def _taxonomy(session: Any, taxonomies: Any, taxonomy: Taxonomy) -> Any:
    from app.domain.errors import NotFound

    try:
        return taxonomies.get_taxonomy_by_name(session, taxonomy.name)
    except NotFound:
        return taxonomies.create_taxonomy(session, taxonomy=taxonomy)


def demo_ml(count: Annotated[int, typer.Option(help="synthetic images to create")] = 24) -> None:
    """Create the synthetic demo dataset and tiny teacher locally and register them (idempotent)."""
    from app.config import load_settings
    from app.db.session import make_engine, make_sessionmaker, unit_of_work

    settings = load_settings()
    settings.ensure_dirs()
    base = settings.data_dir / "demo"
    dataset_root, teacher_dir = base / "streets", base / "teacher"
    if not (dataset_root / "images").is_dir():
        make_dataset(dataset_root, count=count)
    if not (teacher_dir / "unilabel.json").is_file():
        make_teacher(teacher_dir)
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as session:
            ids = register_demo(session, settings, dataset_root=dataset_root, teacher_dir=teacher_dir)
    finally:
        engine.dispose()
    state = "registered" if ids.created else "already registered"
    typer.echo(
        f"demo ml {state}: dataset {ids.dataset_id}, model {ids.model_id}, "
        f"approved mapping version {ids.mapping_version_id}"
    )
    experiment, spec = make_and_register(settings)
    state = "registered" if experiment.created else "already registered"
    typer.echo(f"demo experiment {state}: datasets {', '.join(experiment.datasets)}; spec {spec}")


def register(app: typer.Typer) -> None:
    """``unilabel.cli`` entry point: add ``demo ml`` to the core CLI's ``demo`` group."""
    for info in app.registered_groups:
        if info.name == "demo" and info.typer_instance is not None:
            info.typer_instance.command("ml")(demo_ml)
            return
    demo = typer.Typer(help="Built-in demo content.")
    demo.command("ml")(demo_ml)
    app.add_typer(demo, name="demo")
