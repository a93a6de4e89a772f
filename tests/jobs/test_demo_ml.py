"""``unilabel demo ml``: the synthetic dataset and tiny teacher are made locally and registered once."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.db.migrate import upgrade_database
from worker.demo import register


@pytest.mark.slow
def test_demo_ml_creates_and_registers_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade_database(db)
    monkeypatch.setenv("UNILABEL_DATABASE_URL", db)
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    app = typer.Typer()
    app.add_typer(typer.Typer(), name="demo")
    register(app)
    first = CliRunner().invoke(app, ["demo", "ml", "--count", "4"])
    assert first.exit_code == 0, first.output
    assert "demo ml registered: dataset 1, model 1, approved mapping version 1" in first.output
    assert len(list((tmp_path / "data" / "demo" / "streets" / "images").rglob("*.png"))) == 4
    assert (tmp_path / "data" / "demo" / "teacher" / "unilabel.json").is_file()
    again = CliRunner().invoke(app, ["demo", "ml"])
    assert "already registered" in again.output
