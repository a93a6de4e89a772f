"""Fixtures for the pure domain tests: the authors' reference files, when ../shared is present."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "reference-lists"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"{REFERENCE_DIR} not present (a fresh clone has no ../shared): reference tests skipped")
    return REFERENCE_DIR
