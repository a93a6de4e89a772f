"""Skip a test whose outside service (PostgreSQL, Redis, Chromium) is missing — or fail on CI.

CI (``.ci/run``) sets ``UNILABEL_REQUIRE_SERVICES=1``: there a missing service is a failure, so a
green CI can never come from skipped integration or browser tests.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_unless_required(reason: str) -> NoReturn:
    if os.environ.get("UNILABEL_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} — and UNILABEL_REQUIRE_SERVICES=1 requires it")
    pytest.skip(reason)
