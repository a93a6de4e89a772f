"""Schemathesis over /api/v1/jobs: job state, logs, files, exports and image reviews."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from fastapi import FastAPI

from tests.web.api.schemathesis_api.support import FUZZ_SETTINGS, call_and_check, operations

pytestmark = pytest.mark.slow


@operations("jobs").parametrize()
@FUZZ_SETTINGS
def test_no_server_errors_and_only_documented_statuses(
    case: Any, app: FastAPI, seeded: None, admin: dict[str, str], tally: Counter[str]
) -> None:
    call_and_check(case, app, admin, tally)
