"""The ML CLI's --labels template uses the named-field grammar: a bad one is one ``error:`` line, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

LABELS_CSV = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,#000000\n"
    "1,road,1,0,flat,1,False,False,#804080\n"
)
MASTER_CSV = "id,name,,\n0,road,road,\n255,void,unlabeled,\n"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("labels/{split}/{stem.__class__.__mro__}.png", "attribute access"),
        ("labels/{split}/{stem:>100000000}.png", "format spec"),
        ("labels/{split}/{stem!r}.png", "conversion"),
        ("labels/{", "not closed"),
        ("labels/}", "single '}'"),
        ("labels/{0}.png", "positional"),
        ("labels/{unknown}.png", "does not define"),
    ],
)
def test_bad_label_template_is_one_error_line(
    cli: typer.Typer, tmp_path: Path, template: str, words: str
) -> None:
    for sub in ("images/train", "labels/train"):
        (tmp_path / "ds" / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ds/images/train/0.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ds/labels/train/0.png")
    (tmp_path / "labels.csv").write_text(LABELS_CSV)
    (tmp_path / "master_labels_t.csv").write_text(MASTER_CSV)
    args = ["pseudo-label", "--model", str(tmp_path / "model"), "--root", str(tmp_path / "ds")]
    args += ["--images", "images/{split}/{stem}.png", "--labels", template, "--out", str(tmp_path / "out")]
    args += [
        "--source-taxonomy",
        str(tmp_path / "labels.csv"),
        "--mapping",
        str(tmp_path / "master_labels_t.csv"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: label template") and words in lines[0]
    assert not (tmp_path / "out").exists()
