"""Schemathesis over every OpenAPI operation, as an admin, on both databases.

Every operation gets a bounded number of generated requests (schema examples, boundary values of
the coverage phase, then positive and negative fuzzing). Two checks must hold for every response:
no server error (status < 500) and a status code that the operation documents in OpenAPI.

The operations are split by area over the ``test_*.py`` files here (see ``support.py``); this file
holds what they share. The database holds a small graph of rows with low ids (taxonomies, a mapping
with versions, a dataset inside the allowed data root), so generated ids often hit real rows, not
only 404s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from schemathesis.python import asgi
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from tests import factories


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shared settings with the allowed data roots set to a folder of this test."""
    root = tmp_path / "data-root"
    root.mkdir()
    return settings.model_copy(update={"allowed_data_roots": [root]})


def _write_dataset(root: Path) -> Path:
    folder = root / "streets"
    for split in ("train", "val"):
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(folder / "images" / split / "a.png")
        Image.new("L", (8, 8), 7).save(folder / "labels" / split / "a.png")
    return folder


@pytest.fixture
def seeded(settings: Settings, session_factory: sessionmaker[Session]) -> None:
    """Rows with ids 1, 2, ... that generated requests can reach."""
    from app.schemas.datasets import DatasetCreate
    from app.services import datasets as dataset_service

    with session_factory() as s:
        source = factories.make_taxonomy(s, name="city")
        target = factories.make_class_list(s, name="target")
        factories.make_mapping(s, source=source, target=target, name="city-to-target")
        folder = _write_dataset(settings.allowed_data_roots[0])
        body = DatasetCreate(
            name="streets",
            taxonomy_id=source.id,
            root=str(folder),
            image_pattern="images/{split}/{stem}.png",
            label_template="labels/{split}/{stem}.png",
            splits=["train", "val"],
        )
        dataset_service.register_dataset(s, body=body, settings=settings, user_id=None)
        s.commit()


@pytest.fixture(scope="module")
def _tallies(request: pytest.FixtureRequest) -> Iterator[dict[str, Counter[str]]]:
    """Requests per operation and server errors, per backend, reported at the end of each file."""
    tallies: dict[str, Counter[str]] = {}
    yield tallies
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    for backend, counts in tallies.items():
        operations = len([k for k in counts if k != "server errors"])
        requests = sum(v for k, v in counts.items() if k != "server errors")
        line = f"schemathesis {request.module.__name__.rsplit('.', 1)[-1]} [{backend}]: "
        line += f"{operations} operations, {requests} requests, {counts['server errors']} server errors"
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")


@pytest.fixture
def tally(_tallies: dict[str, Counter[str]], db_backend: str) -> Counter[str]:
    """The counts of this file and backend, for ``support.call_and_check``."""
    return _tallies.setdefault(db_backend, Counter())


@pytest.fixture(autouse=True)
def _stop_lifespans() -> Iterator[None]:
    """Schemathesis keeps each app's lifespan (and its outbox relay thread) running until exit."""
    yield
    asgi.shutdown_lifespans()
