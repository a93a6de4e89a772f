"""Architecture checks: import-linter contracts, and what importing the app really loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ML_MODULES = ("torch", "transformers", "accelerate")


def _loaded_after(code: str) -> set[str]:
    """Top-level modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_web_app_does_not_load_the_ml_stack() -> None:
    loaded = _loaded_after("import app.web.main; app.web.main.create_app")
    assert not loaded & set(ML_MODULES), loaded & set(ML_MODULES)


def test_no_app_module_loads_the_ml_stack() -> None:
    code = (
        "import importlib, pkgutil, app\n"
        "for m in pkgutil.walk_packages(app.__path__, 'app.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = _loaded_after(code)
    assert not loaded & set(ML_MODULES), loaded & set(ML_MODULES)
    assert "worker" not in loaded


def test_domain_is_pure_at_run_time() -> None:
    code = (
        "import importlib, pkgutil, app.domain\n"
        "for m in pkgutil.walk_packages(app.domain.__path__, 'app.domain.'):\n"
        "    importlib.import_module(m.name)\n"
    )
    loaded = _loaded_after(code)
    forbidden = {"fastapi", "starlette", "jinja2", "sqlalchemy", "celery", "pydantic", *ML_MODULES}
    assert not loaded & forbidden, loaded & forbidden


@pytest.mark.slow
def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("ruff")), "check", "app", "worker", "tests", "benchmarks"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    # configuration (strict, files, overrides) in pyproject.toml [tool.mypy]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mypy"))],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
