"""Schemathesis over every OpenAPI operation, as an admin, on both databases.

Every operation gets a bounded number of generated requests (schema examples, boundary values of
the coverage phase, then positive and negative fuzzing). Two checks must hold for every response:
no server error (status < 500) and a status code that the operation documents in OpenAPI.

The database holds a small graph of rows with low ids (taxonomies, a mapping with versions, a
dataset inside the allowed data root), so generated ids often hit real rows, not only 404s.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import status_code_conformance
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings, load_settings
from tests import factories
from tests.conftest import TEST_SECRET

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance]


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


_TALLIES: dict[str, Counter[str]] = {}


@pytest.fixture
def tally(db_backend: str) -> Counter[str]:
    """Requests per operation and server errors, per backend (reported at the end of the module)."""
    return _TALLIES.setdefault(db_backend, Counter())


@pytest.fixture(scope="module", autouse=True)
def _report_tallies(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    for backend, counts in _TALLIES.items():
        operations = len([k for k in counts if k != "server errors"])
        requests = sum(v for k, v in counts.items() if k != "server errors")
        line = f"schemathesis [{backend}]: {operations} operations, {requests} requests, "
        line += f"{counts['server errors']} server errors"
        with capture.global_and_fixture_disabled():
            print(f"\n{line}")


@pytest.fixture(autouse=True)
def _stop_lifespans() -> Iterator[None]:
    """Schemathesis keeps each app's lifespan (and its outbox relay thread) running until exit."""
    yield
    asgi.shutdown_lifespans()


def _openapi() -> dict[str, Any]:
    """The OpenAPI document (it does not depend on the settings; no database is opened)."""
    from app.web.main import create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            load_settings(
                database_url=f"sqlite:///{tmp}/openapi.db",
                broker_url="memory://",
                data_dir=Path(tmp) / "data",
                secret_key=TEST_SECRET,
            )
        )
        return app.openapi()


schema = schemathesis.openapi.from_dict(_openapi())
schema.config.generation.update(
    max_examples=MAX_EXAMPLES, modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
)


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_no_server_errors_and_only_documented_statuses(
    case: Any, app: FastAPI, seeded: None, admin: dict[str, str], tally: Counter[str]
) -> None:
    tally[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    response = case.call(app=app, headers=admin)
    tally["server errors"] += response.status_code >= 500
    case.validate_response(response, checks=CHECKS)
