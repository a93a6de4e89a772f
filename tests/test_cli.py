"""The ``unilabel`` CLI: migrations, users, taxonomy and mapping import/export/validate, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.config import load_settings
from app.serve import login_url, record_served_url

runner = CliRunner()

LABELS = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,#000000\n"
    "1,road,7,0,flat,1,False,False,#804080\n"
    "2,sky,23,10,sky,5,False,False,#4682b4\n"
)
MASTER = "trainId,name\n0,drivable,road\n1,sky,sky,skyy\n255,void,unlabeled\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    return tmp_path


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_user_create_prints_a_token_once(env: Path) -> None:
    out = _run("user", "create", "alice", "--role", "reviewer")
    token = out.strip().splitlines()[-1]
    assert token.startswith("ul_")
    assert "alice\treviewer" in _run("user", "list")
    bad = runner.invoke(app, ["user", "create", "bob", "--role", "king"])
    assert bad.exit_code == 1 and "unknown role" in bad.output


def test_taxonomy_and_mapping_import_export_validate(env: Path) -> None:
    (env / "labels.csv").write_text(LABELS)
    (env / "master_labels_tiny.csv").write_text(MASTER)
    assert "imported taxonomy 1 'city'" in _run(
        "taxonomy", "import", str(env / "labels.csv"), "--name", "city"
    )
    out = _run("mapping", "import", str(env / "master_labels_tiny.csv"), "--source", "city")
    assert (
        "created mapping 1 'city -> tiny'" in out
        and "unknown_source_name" in out
        and "did you mean 'sky'" in out
    )
    validate = runner.invoke(app, ["mapping", "validate", "1", "--json"])
    assert validate.exit_code == 1  # the typo 'skyy' is an error
    assert json.loads(validate.output)["counts"]["error"] == 1
    exported = _run("mapping", "export", "city -> tiny")
    (env / "again.csv").write_text(exported)
    again = _run("mapping", "import", str(env / "again.csv"), "--into", "1")
    assert "updated mapping 1" in again and "version 1" in again  # same edges: no new version
    assert _run("taxonomy", "export", "city").splitlines()[1].startswith("0,unlabeled,0,")
    _run("taxonomy", "export", "tiny", "--format", "json", "-o", str(env / "t.json"))
    assert json.loads((env / "t.json").read_text())["labels"][1]["name"] == "sky"


def test_bad_files_fail_with_a_message_and_store_nothing(env: Path) -> None:
    (env / "empty.csv").write_bytes(b"")
    (env / "latin1.csv").write_bytes("0,straße\n".encode("latin-1"))
    for name in ("empty.csv", "latin1.csv", "missing.csv"):
        result = runner.invoke(app, ["taxonomy", "import", str(env / name), "--name", "x"])
        assert result.exit_code == 1 and "error" in result.output
    assert _run("taxonomy", "list") == ""


def test_invalid_setting_names_the_variable(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNILABEL_PUBLIC_READ", "maybe")
    result = runner.invoke(app, ["taxonomy", "list"])
    assert result.exit_code == 2 and "UNILABEL_PUBLIC_READ" in result.output


def test_demo_load_is_idempotent(env: Path) -> None:
    assert "4 taxonomies and 3 mappings created" in _run("demo", "load")
    assert "0 taxonomies and 0 mappings created" in _run("demo", "load")
    assert "Cityscapes -> Cityscapes-19" in _run("mapping", "list")
    assert runner.invoke(app, ["mapping", "validate", "Cityscapes -> Cityscapes-19"]).exit_code == 0


def test_login_url_command_and_format(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _run("user", "create", "carol", "--role", "admin")
    assert "http://127.0.0.1:8000/login/token?token=ul_" in _run("user", "login-url", "carol")
    # After `serve --port 8765` the printed URL follows the server, not a fixed port 8000 ...
    record_served_url(load_settings(), "0.0.0.0", 8765)
    assert _run("user", "login-url", "carol").startswith("http://127.0.0.1:8765/login/token?token=ul_")
    # ... UNILABEL_PUBLIC_URL (a reverse proxy's address) wins, and --url wins over both.
    monkeypatch.setenv("UNILABEL_PUBLIC_URL", "https://unilabel.lab.example/")
    assert _run("user", "login-url", "carol").startswith("https://unilabel.lab.example/login/token?token=")
    out = _run("user", "login-url", "carol", "--url", "http://gpu-box:9000")
    assert out.startswith("http://gpu-box:9000/login/token?token=ul_")
    assert _run("user", "login-url", "carol", "--port", "8001").startswith(
        "http://127.0.0.1:8001/login/token?"
    )
    assert login_url("0.0.0.0", 80, "t") == "http://127.0.0.1:80/login/token?token=t"
    assert login_url("::1", 80, "t") == "http://[::1]:80/login/token?token=t"


@pytest.mark.parametrize(
    "args",
    [["experiment", "show", "1"], ["job", "list"], ["job", "submit", "--model", "1", "--dataset", "1"]],
)
def test_a_server_that_cannot_be_reached_is_one_clear_line_not_a_traceback(args: list[str]) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = runner.invoke(app, [*args, "--url", f"http://127.0.0.1:{port}"])
    assert result.exit_code == 2, result.output
    assert f"cannot reach the unilabel server at http://127.0.0.1:{port}" in result.output
    assert "`make run` or `unilabel serve`" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
