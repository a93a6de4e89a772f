"""``unilabel model trust ID --by ADMIN``; the local ``--trust-pickle`` of files named by path (CliRunner)."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest
import torch
import typer
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from app.config import Settings
from app.schemas.models import ModelCreate
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service
from app.services import users as user_service
from worker.demo import IMAGE_PATTERN, TARGET, make_dataset


def _pth(path: Path) -> Path:
    """A paper checkpoint that needs more than the allow-list (an argparse namespace, as the paper's)."""
    from worker.ml.modeling import build_mask2former, tiny_config

    model = build_mask2former(tiny_config(dict(enumerate(TARGET.names))))
    payload = {
        "model_config": model.config,
        "model_state_dict": model.state_dict(),
        "args": argparse.Namespace(),
    }
    torch.save(payload, path)
    return path


def test_model_trust_records_an_admins_decision_and_refuses_anyone_else(
    cli: typer.Typer,
    settings: Settings,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", settings.database_url)
    sent: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr("app.queue.send_task", lambda name, queue=None, **kw: sent.append((name, kw)))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = _pth(settings.data_dir / "paper.pth")
    with session_factory() as s:
        user_service.create_user(s, name="boss", role="admin")
        user_service.create_user(s, name="ed", role="editor")
        target = taxonomy_service.create_taxonomy(s, taxonomy=TARGET)
        body = ModelCreate(name="paper", source="paper_pth", spec=str(path), taxonomy_id=target.id)
        model_id = model_service.register_model(s, body=body, settings=settings).id
        s.commit()
    runner = CliRunner()

    root = make_dataset(tmp_path / "streets", count=1, height=24, width=32)
    local = ["--root", str(root), "--images", IMAGE_PATTERN, "--out", str(tmp_path / "out")]
    by_id = runner.invoke(cli, ["pseudo-label", "--model", str(model_id), *local])
    assert by_id.exit_code != 0 and "untrusted pickle" in by_id.output  # an id never unpickles
    refused = runner.invoke(cli, ["model", "trust", str(model_id), "--by", "ed"])
    assert refused.exit_code == 2 and "only an admin" in refused.output
    with session_factory() as s:
        assert model_service.get_model(s, model_id).trusted_sha256 is None

    res = runner.invoke(cli, ["model", "trust", str(model_id), "--by", "boss", "--note", "from the paper"])
    assert res.exit_code == 0, res.output
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in res.output
    with session_factory() as s:
        row = model_service.get_model(s, model_id)
        boss = user_service.get_user_by_name(s, "boss")
        assert (row.trusted_by_id, row.trusted_sha256, row.trust_note) == (boss.id, digest, "from the paper")
        assert row.trusted_at is not None and row.conversion_status == "pending"
    assert ("unilabel.convert_model", {"model_id": model_id}) in sent


def test_a_local_file_is_unpickled_only_with_the_users_own_trust_pickle(
    cli: typer.Typer, tmp_path: Path
) -> None:
    path = _pth(tmp_path / "mine.pth")
    runner = CliRunner()
    refused = runner.invoke(cli, ["model", "info", str(path)])
    assert refused.exit_code == 2 and "argparse.Namespace" in refused.output
    trusted = runner.invoke(cli, ["model", "info", str(path), "--trust-pickle"])
    assert trusted.exit_code == 0, trusted.output
    assert '"trusted_pickle": true' in trusted.output
