"""Schemathesis over /api/v1/mappings: edges, versions and their review, suggestions, audit."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi import FastAPI

from tests.web.api.schemathesis_api.support import FUZZ_SETTINGS, call_and_check, operations

pytestmark = pytest.mark.slow


@operations("mappings").parametrize()
@FUZZ_SETTINGS
def test_no_server_errors_and_only_documented_statuses(
    case: Any, app: FastAPI, seeded: None, admin: dict[str, str], tally: Counter[str]
) -> None:
    call_and_check(case, app, admin, tally)
