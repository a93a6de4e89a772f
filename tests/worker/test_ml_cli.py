"""The ML CLI commands end to end on a tiny random model and a synthetic dataset (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

LABELS_CSV = """0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color
0,unlabeled,0,255,void,0,False,True,#000000
1,road,1,0,flat,1,False,False,#804080
2,car,2,1,vehicle,7,True,False,#00008e
3,tree,3,2,nature,4,False,False,#6b8e23
"""
MASTER_CSV = """id,name,,
0,road,road,
1,car,car,
2,vegetation,tree,
255,void,unlabeled,
"""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "labels.csv").write_text(LABELS_CSV)
    (tmp_path / "master_labels_tiny.csv").write_text(MASTER_CSV)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        (tmp_path / "ds/images" / split).mkdir(parents=True)
        (tmp_path / "ds/labels" / split).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(
                tmp_path / f"ds/images/{split}/{i}.png"
            )
            Image.fromarray(rng.integers(0, 4, (32, 48), dtype=np.uint8)).save(
                tmp_path / f"ds/labels/{split}/{i}_labelids.png"
            )
    return tmp_path


def test_init_pseudo_label_evaluate_info_convert(cli: typer.Typer, workspace: Path) -> None:
    runner = CliRunner()
    w = workspace
    res = runner.invoke(
        cli, ["model", "init-tiny", str(w / "model"), "--mapping", str(w / "master_labels_tiny.csv")]
    )
    assert res.exit_code == 0, res.output
    common = [
        "--model",
        str(w / "model"),
        "--root",
        str(w / "ds"),
        "--images",
        "images/{split}/{stem}.png",
        "--labels",
        "labels/{split}/{stem}_labelids.png",
        "--source-taxonomy",
        str(w / "labels.csv"),
        "--mapping",
        str(w / "master_labels_tiny.csv"),
        "--device",
        "cpu",
        "--workers",
        "0",
    ]
    res = runner.invoke(
        cli, ["pseudo-label", *common, "--out", str(w / "out"), "--confidence", "--batch-size", "2"]
    )
    assert res.exit_code == 0, res.output
    assert "written 4" in res.output
    out = np.asarray(Image.open(w / "out/labels/labels/train/0_labelids.png"))
    gt = np.asarray(Image.open(w / "ds/labels/train/0_labelids.png"))
    assert np.all(out[gt == 0] == 255) and np.all(out[gt == 1] == 0) and np.all(out[gt == 2] == 1)
    res = runner.invoke(cli, ["pseudo-label", *common, "--out", str(w / "out")])
    assert "skipped (existing) 4" in res.output
    for extra, upscaled, mode in (
        ([], "whole", "whole"),
        (["--tta-windows"], "sliding windows", "windows"),
        (["--tta-whole"], "whole", "whole"),  # deprecated: says so, changes nothing
        (["--tta-memory-budget-mb", "1"], "whole", "windows (fell back: budget)"),
    ):
        tta_out = w / f"tta-{'-'.join(extra) or 'default'}"
        res = runner.invoke(cli, ["pseudo-label", *common, "--out", str(tta_out), "--tta", *extra])
        assert res.exit_code == 0, res.output
        assert ("deprecated and has no effect" in res.output) == (extra == ["--tta-whole"])
        summary = json.loads((tta_out / "summary.json").read_text())
        assert len(summary["tta_views"]) == 8 and summary["tta_upscaled_views"] == upscaled
        assert summary["tta_view_runs"]["orig@2"] == {mode: 4}
        assert (f"TTA view orig@2: {mode} on 4 image(s)" in res.output) == ("budget" in mode)
        tta_labels = np.asarray(Image.open(tta_out / "labels/labels/train/0_labelids.png"))
        assert np.all(tta_labels[gt == 0] == 255) and np.all(tta_labels[gt == 1] == 0)

    res = runner.invoke(cli, ["evaluate", *common, "--out", str(w / "metrics.json")])
    assert res.exit_code == 0, res.output
    assert "mIoU" in res.output and "vegetation" in res.output
    assert json.loads((w / "metrics.json").read_text())["evaluated"] == 4

    res = runner.invoke(cli, ["model", "info", str(w / "model")])
    assert res.exit_code == 0 and json.loads(res.stdout)["class_names"] == ["road", "car", "vegetation"]
    res = runner.invoke(
        cli, ["model", "convert", str(w / "model"), str(w / "converted"), "--mean", "1,2,3", "--std", "4,5,6"]
    )
    assert res.exit_code == 0, res.output
    info = json.loads(runner.invoke(cli, ["model", "info", str(w / "converted")]).stdout)
    assert info["normalization"] == {"mean": [1.0, 2.0, 3.0], "std": [4.0, 5.0, 6.0]}


def test_no_priors_mode_and_errors(cli: typer.Typer, workspace: Path) -> None:
    runner = CliRunner()
    w = workspace
    runner.invoke(
        cli, ["model", "init-tiny", str(w / "model"), "--mapping", str(w / "master_labels_tiny.csv")]
    )
    res = runner.invoke(
        cli,
        [
            "pseudo-label",
            "--model",
            str(w / "model"),
            "--root",
            str(w / "ds"),
            "--images",
            "images/*/*.png",
            "--no-priors",
            "--out",
            str(w / "out"),
            "--device",
            "cpu",
            "--workers",
            "0",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (w / "out/labels/images/val/1.png").is_file()
    res = runner.invoke(
        cli,
        [
            "pseudo-label",
            "--model",
            str(w / "model"),
            "--root",
            str(w / "ds"),
            "--images",
            "images/*/*.png",
            "--out",
            str(w / "out2"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 2 and "priors need" in res.output
    res = runner.invoke(
        cli,
        ["model", "info", "acme/not-cached-model"],
        env={"HF_HUB_CACHE": str(w / "hub"), "HF_HUB_OFFLINE": "1"},
    )
    assert res.exit_code == 2 and "acme/not-cached-model" in res.output
