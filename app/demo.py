"""Built-in demo content (outer layer): real dataset taxonomies and mappings for a non-empty first screen.

Written from public facts: the Cityscapes label table (as published in the ``cityscapesScripts``
``labels.py``: name, id, trainId, category, categoryId, hasInstances, ignoreInEval, colour) and the
RELLIS-3D ontology (20 labels with their ids and colours). The offroad target is a small 8-class
set made up for the demo. ``load_demo`` is idempotent: it skips what already exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.db.models import Taxonomy as TaxonomyRow
from app.domain.errors import NotFound
from app.domain.mapping import VOID
from app.domain.taxonomy import Label, Taxonomy
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service

# name, id, trainId, category, categoryId, hasInstances, ignoreInEval, (r, g, b)
_CITYSCAPES: tuple[tuple[str, int, int, str, int, bool, bool, tuple[int, int, int]], ...] = (
    ("unlabeled", 0, 255, "void", 0, False, True, (0, 0, 0)),
    ("ego vehicle", 1, 255, "void", 0, False, True, (0, 0, 0)),
    ("rectification border", 2, 255, "void", 0, False, True, (0, 0, 0)),
    ("out of roi", 3, 255, "void", 0, False, True, (0, 0, 0)),
    ("static", 4, 255, "void", 0, False, True, (0, 0, 0)),
    ("dynamic", 5, 255, "void", 0, False, True, (111, 74, 0)),
    ("ground", 6, 255, "void", 0, False, True, (81, 0, 81)),
    ("road", 7, 0, "flat", 1, False, False, (128, 64, 128)),
    ("sidewalk", 8, 1, "flat", 1, False, False, (244, 35, 232)),
    ("parking", 9, 255, "flat", 1, False, True, (250, 170, 160)),
    ("rail track", 10, 255, "flat", 1, False, True, (230, 150, 140)),
    ("building", 11, 2, "construction", 2, False, False, (70, 70, 70)),
    ("wall", 12, 3, "construction", 2, False, False, (102, 102, 156)),
    ("fence", 13, 4, "construction", 2, False, False, (190, 153, 153)),
    ("guard rail", 14, 255, "construction", 2, False, True, (180, 165, 180)),
    ("bridge", 15, 255, "construction", 2, False, True, (150, 100, 100)),
    ("tunnel", 16, 255, "construction", 2, False, True, (150, 120, 90)),
    ("pole", 17, 5, "object", 3, False, False, (153, 153, 153)),
    ("polegroup", 18, 255, "object", 3, False, True, (153, 153, 153)),
    ("traffic light", 19, 6, "object", 3, False, False, (250, 170, 30)),
    ("traffic sign", 20, 7, "object", 3, False, False, (220, 220, 0)),
    ("vegetation", 21, 8, "nature", 4, False, False, (107, 142, 35)),
    ("terrain", 22, 9, "nature", 4, False, False, (152, 251, 152)),
    ("sky", 23, 10, "sky", 5, False, False, (70, 130, 180)),
    ("person", 24, 11, "human", 6, True, False, (220, 20, 60)),
    ("rider", 25, 12, "human", 6, True, False, (255, 0, 0)),
    ("car", 26, 13, "vehicle", 7, True, False, (0, 0, 142)),
    ("truck", 27, 14, "vehicle", 7, True, False, (0, 0, 70)),
    ("bus", 28, 15, "vehicle", 7, True, False, (0, 60, 100)),
    ("caravan", 29, 255, "vehicle", 7, True, True, (0, 0, 90)),
    ("trailer", 30, 255, "vehicle", 7, True, True, (0, 0, 110)),
    ("train", 31, 16, "vehicle", 7, True, False, (0, 80, 100)),
    ("motorcycle", 32, 17, "vehicle", 7, True, False, (0, 0, 230)),
    ("bicycle", 33, 18, "vehicle", 7, True, False, (119, 11, 32)),
    ("license plate", -1, -1, "vehicle", 7, False, True, (0, 0, 142)),
)

# RELLIS-3D ontology: name, id, (r, g, b)
_RELLIS: tuple[tuple[str, int, tuple[int, int, int]], ...] = (
    ("void", 0, (0, 0, 0)),
    ("dirt", 1, (108, 64, 20)),
    ("grass", 3, (0, 102, 0)),
    ("tree", 4, (0, 255, 0)),
    ("pole", 5, (0, 153, 153)),
    ("water", 6, (0, 128, 255)),
    ("sky", 7, (0, 0, 255)),
    ("vehicle", 8, (255, 255, 0)),
    ("object", 9, (255, 0, 127)),
    ("asphalt", 10, (64, 64, 64)),
    ("building", 12, (255, 0, 0)),
    ("log", 15, (102, 0, 0)),
    ("person", 17, (204, 153, 255)),
    ("fence", 18, (102, 0, 204)),
    ("bush", 19, (255, 153, 204)),
    ("concrete", 23, (170, 170, 170)),
    ("barrier", 27, (41, 121, 255)),
    ("puddle", 31, (134, 255, 239)),
    ("mud", 33, (99, 66, 34)),
    ("rubble", 34, (110, 22, 138)),
)

_OFFROAD: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("smooth_drivable", (128, 64, 128)),
    ("rough_drivable", (140, 100, 40)),
    ("low_vegetation", (152, 251, 152)),
    ("high_vegetation", (107, 142, 35)),
    ("obstacle", (190, 153, 153)),
    ("water", (0, 128, 255)),
    ("sky", (70, 130, 180)),
    ("dynamic", (220, 20, 60)),
)

_CITYSCAPES_TO_OFFROAD: dict[str, tuple[int, ...]] = {
    "road": (0,), "sidewalk": (0,), "parking": (0,), "rail track": (1,), "ground": (0, 1),
    "terrain": (1, 2), "vegetation": (3,), "building": (4,), "wall": (4,), "fence": (4,),
    "guard rail": (4,), "bridge": (4,), "tunnel": (4,), "pole": (4,), "polegroup": (4,),
    "traffic light": (4,), "traffic sign": (4,), "static": (4,), "sky": (6,), "person": (7,),
    "rider": (7,), "car": (7,), "truck": (7,), "bus": (7,), "caravan": (7,), "trailer": (7,),
    "train": (7,), "motorcycle": (7,), "bicycle": (7,), "dynamic": (7,),
    "unlabeled": (VOID,), "ego vehicle": (VOID,), "rectification border": (VOID,), "out of roi": (VOID,),
}  # fmt: skip

_RELLIS_TO_OFFROAD: dict[str, tuple[int, ...]] = {
    "asphalt": (0,), "concrete": (0,), "dirt": (1,), "mud": (1,), "grass": (2,), "tree": (3,),
    "bush": (2, 3), "log": (4,), "pole": (4,), "object": (4,), "building": (4,), "fence": (4,),
    "barrier": (4,), "rubble": (1, 4), "water": (5,), "puddle": (5,), "sky": (6,),
    "person": (7,), "vehicle": (7,), "void": (VOID,),
}  # fmt: skip


# What ``unilabel demo ml`` (worker/demo.py, run by ``make run``) registers, by name: the home
# page's "Getting started" links to these objects when they exist.
ML_DEMO_SOURCE = "demo-streets"
ML_DEMO_TARGET = "demo-4"
ML_DEMO_MAPPING = "demo-streets -> demo-4"
ML_DEMO_DATASET = "demo-streets"
ML_DEMO_MODEL = "demo-teacher"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def cityscapes() -> Taxonomy:
    labels = tuple(
        Label(value, name, _hex(rgb), cat, ignore, None if train < 0 else train, cat_id, inst)
        for name, value, train, cat, cat_id, inst, ignore, rgb in _CITYSCAPES
    )
    return Taxonomy(
        "Cityscapes", labels, "Cityscapes fine annotations: 34 label ids plus 'license plate' (-1)."
    )


def cityscapes_19() -> Taxonomy:
    """The 19 Cityscapes training classes (trainId 0..18): the classic teacher taxonomy."""
    by_train = sorted((t, n, rgb) for n, _, t, *_rest, rgb in _CITYSCAPES if 0 <= t < 255)
    labels = tuple(Label(t, n, _hex(rgb)) for t, n, rgb in by_train)
    return Taxonomy("Cityscapes-19", labels, "The 19 Cityscapes evaluation classes (trainId 0..18).")


def rellis_3d() -> Taxonomy:
    labels = tuple(Label(value, name, _hex(rgb), ignore=name == "void") for name, value, rgb in _RELLIS)
    return Taxonomy("RELLIS-3D", labels, "RELLIS-3D off-road ontology (20 labels).")


def offroad_8() -> Taxonomy:
    labels = tuple(Label(i, name, _hex(rgb)) for i, (name, rgb) in enumerate(_OFFROAD))
    return Taxonomy("Offroad-8", labels, "A small off-road target taxonomy for the demo (8 classes).")


@dataclass(frozen=True, slots=True)
class DemoSummary:
    taxonomies_created: int
    mappings_created: int


def _cityscapes_to_19() -> dict[str, tuple[int, ...]]:
    return {n: ((t,) if 0 <= t < 255 else (VOID,)) for n, _v, t, *_ in _CITYSCAPES if t != -1}


def load_demo(session: Session) -> DemoSummary:
    """Create the demo taxonomies and mappings that do not exist yet (flushes, never commits)."""
    created_t = created_m = 0
    rows: dict[str, TaxonomyRow] = {}
    for taxonomy in (cityscapes(), cityscapes_19(), rellis_3d(), offroad_8()):
        try:
            rows[taxonomy.name] = taxonomy_service.get_taxonomy_by_name(session, taxonomy.name)
        except NotFound:
            rows[taxonomy.name] = taxonomy_service.create_taxonomy(session, taxonomy=taxonomy)
            created_t += 1
    plans = (
        ("Cityscapes -> Cityscapes-19", "Cityscapes", "Cityscapes-19", _cityscapes_to_19()),
        ("Cityscapes -> Offroad-8", "Cityscapes", "Offroad-8", _CITYSCAPES_TO_OFFROAD),
        ("RELLIS-3D -> Offroad-8", "RELLIS-3D", "Offroad-8", _RELLIS_TO_OFFROAD),
    )
    for name, source, target, table in plans:
        try:
            mapping_service.get_mapping_by_name(session, name)
            continue
        except NotFound:
            pass
        edges = [(src, t) for src, targets in table.items() for t in targets]
        mapping_service.create_mapping(
            session,
            name=name,
            source_taxonomy_id=rows[source].id,
            target_taxonomy_id=rows[target].id,
            edges=edges,
            message="Demo content",
        )
        created_m += 1
    return DemoSummary(created_t, created_m)
