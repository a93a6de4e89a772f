"""``unilabel model add-paper-start``: the paper's start checkpoint registered from a local HF cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.config import Settings
from app.domain.training_presets import PAPER_START_MODEL
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services.training_defaults import paper_start_model

CLASSES = {0: "Bird", 1: "Ground Animal", 2: "Curb"}


def _cache(root: Path, *, weights: bool = True) -> Path:
    """A Hugging Face cache holding a tiny random model under the paper's start model id."""
    from worker.ml.modeling import build_mask2former, tiny_config

    repo = root / ("models--" + PAPER_START_MODEL.replace("/", "--"))
    snapshot = repo / "snapshots" / ("a" * 40)
    build_mask2former(tiny_config(CLASSES)).save_pretrained(snapshot)
    if not weights:
        for path in snapshot.glob("*.safetensors"):
            path.unlink()
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    return root


@pytest.fixture
def env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return settings


def test_registers_the_cached_checkpoint_with_its_own_classes_once(
    cli: typer.Typer, env: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    cache = _cache(tmp_path / "hf")
    runner = CliRunner()
    res = runner.invoke(cli, ["model", "add-paper-start", "--cache-dir", str(cache)])
    assert res.exit_code == 0, res.output
    assert PAPER_START_MODEL in res.output and "3 classes" in res.output
    with session_factory() as s:
        row = paper_start_model(s)
        assert row is not None and row.source == "hf_id" and row.spec == PAPER_START_MODEL
        taxonomy = taxonomy_service.load_taxonomy(s, row.taxonomy_id)
        assert taxonomy.names == ("Bird", "Ground Animal", "Curb")
        count = model_service.list_models(s)[1]
    again = runner.invoke(cli, ["model", "add-paper-start", "--cache-dir", str(cache)])
    assert again.exit_code == 0 and "already registered" in again.output
    with session_factory() as s:
        assert model_service.list_models(s)[1] == count


def test_refuses_clearly_when_the_checkpoint_is_not_cached_or_has_only_pickles(
    cli: typer.Typer, env: Settings, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    runner = CliRunner()
    missing = runner.invoke(cli, ["model", "add-paper-start", "--cache-dir", str(tmp_path / "empty")])
    assert missing.exit_code == 2
    assert "not in the local Hugging Face cache" in missing.output and "never downloads" in missing.output
    pickles = _cache(tmp_path / "hf", weights=False)
    res = runner.invoke(cli, ["model", "add-paper-start", "--cache-dir", str(pickles)])
    assert res.exit_code == 2 and "no safetensors weights" in res.output
    with session_factory() as s:
        assert paper_start_model(s) is None
