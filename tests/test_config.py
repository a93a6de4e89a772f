"""Settings: defaults under ./var, env parsing, errors that name the UNILABEL_ variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Settings, SettingsError, load_settings


def test_defaults_are_local_and_serverless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "BROKER_URL", "DATA_DIR", "SECRET_KEY", "PUBLIC_READ"):
        monkeypatch.delenv(f"UNILABEL_{name}", raising=False)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.database_url == f"sqlite:///{tmp_path.resolve()}/var/unilabel.db"
    assert s.broker_url == f"sqla+sqlite:///{tmp_path.resolve()}/var/broker.sqlite"
    assert s.data_dir == tmp_path.resolve() / "var" / "data" and s.public_read is False


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("UNILABEL_PUBLIC_READ", "true")
    monkeypatch.setenv("UNILABEL_ALLOWED_DATA_ROOTS", f"{tmp_path}/a, {tmp_path}/b")
    monkeypatch.setenv("UNILABEL_MAX_UPLOAD_BYTES", "1234")
    s = load_settings()
    assert s.public_read is True and s.max_upload_bytes == 1234
    assert s.allowed_data_roots == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.setenv("UNILABEL_ALLOWED_DATA_ROOTS", '["/x", "/y"]')
    assert load_settings().allowed_data_roots == [Path("/x"), Path("/y")]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UNILABEL_DATABASE_URL", "not a url"),
        ("UNILABEL_MAX_UPLOAD_BYTES", "-5"),
        ("UNILABEL_PUBLIC_READ", "perhaps"),
        ("UNILABEL_SECRET_KEY", "short"),
    ],
)
def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert name in str(info.value)


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path / "var" / "data", secret_key=None)
    first = s.resolved_secret_key()
    assert len(first) >= 32 and (tmp_path / "var" / "secret_key").stat().st_mode & 0o077 == 0
    assert load_settings(data_dir=tmp_path / "var" / "data", secret_key=None).resolved_secret_key() == first
    assert load_settings(secret_key="x" * 20).resolved_secret_key() == "x" * 20
