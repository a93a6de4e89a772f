"""The OpenAPI schema, the hypothesis settings and the checks, shared by the test files here.

Each ``test_*.py`` file fuzzes one area of the API (its first path segment under ``/api/v1``), so
that ``pytest -n 2 --dist loadfile`` can run the areas side by side; ``test_rest.py`` takes every
operation outside the named areas, so a new router is covered without editing this list.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import status_code_conformance

from app.config import load_settings
from tests.conftest import TEST_SECRET

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
AREAS = ("mappings", "jobs", "experiments", "evaluations", "datasets", "models")


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


_schema = schemathesis.openapi.from_dict(_openapi())
_schema.config.generation.update(
    max_examples=MAX_EXAMPLES, modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
)


def _area_regex(*areas: str) -> str:
    return rf"^/api/v1/({'|'.join(areas)})(/|$)"


def operations(*areas: str) -> BaseSchema:
    """The operations under ``/api/v1/<area>`` for each of ``areas`` (all of ``AREAS``)."""
    unknown = set(areas) - set(AREAS)
    assert not unknown, f"add {sorted(unknown)} to AREAS, or test_rest.py covers them twice"
    return _schema.include(path_regex=_area_regex(*areas))


def other_operations() -> BaseSchema:
    """Every operation outside ``AREAS`` (health, users, tokens, taxonomies, ...)."""
    return _schema.exclude(path_regex=_area_regex(*AREAS))


def call_and_check(case: Any, app: FastAPI, headers: dict[str, str], tally: Counter[str]) -> None:
    """Send one generated request and hold its response to ``CHECKS``; count it in ``tally``."""
    tally[f"{case.operation.method.upper()} {case.operation.path}"] += 1
    response = case.call(app=app, headers=headers)
    tally["server errors"] += response.status_code >= 500
    case.validate_response(response, checks=CHECKS)
