"""``unilabel dataset add --any-class VALUE``: stored on the dataset, printed, refused out of range."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from tests import preset_layouts as L
from tests.test_cli_datasets import env  # noqa: F401  (the fixture)

runner = CliRunner()


def test_add_with_any_class_values(env: Path) -> None:  # noqa: F811
    root = L.cityscapes(env / "data" / "cityscapes").root
    args = ["dataset", "add", "--preset", "cityscapes", "--root", str(root), "--any-class", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "any class allowed on pixel values: 1" in result.output
    bad = runner.invoke(app, [*args[:-1], "256", "--name", "cs2"])
    assert bad.exit_code == 1 and "not ids8 label values (0..255)" in bad.output
    as_json = runner.invoke(app, [*args, "--any-class", "0", "--name", "cs3", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["any_class_values"] == [0, 1]
