"""CLI imports of the authors' files: default names from the dataset folder, file warnings printed,
target taxonomies with stable names (reuse reported, ``--target-name`` honoured or refused)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app

runner = CliRunner()

LABELS = (
    "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
    "0,unlabeled,0,255,void,0,False,True,#000000\n"
    "1,road,7,0,flat,x,False,False,#804080\n"
    "2,Bicyclist,2,1,,,,,\n"
    "3,Bicyclist,3,1,,,,,\n"
)
MASTER = "trainId,name\n0,road,road\n1,bicycle,Bicyclist\n255,void,unlabeled\n"
OTHER_MASTER = "trainId,name\n0,drivable,road\n1,rider,Bicyclist\n255,void,unlabeled\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def _run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _dataset(root: Path, name: str, files: dict[str, str]) -> Path:
    lists = root / name / "lists"
    lists.mkdir(parents=True)
    for file, text in files.items():
        (lists / file).write_text(text)
    return lists


def test_labels_csv_in_a_lists_folder_is_named_after_the_dataset_and_warnings_are_printed(env: Path) -> None:
    lists = _dataset(env, "CamVid", {"labels.csv": LABELS, "labels_old.csv": LABELS})
    out = _run("taxonomy", "import", str(lists / "labels.csv"))
    assert "imported taxonomy 1 'CamVid' (4 labels)" in out
    assert "duplicate_label_name" in out and "file rows 4, 5" in out
    assert "junk_cell" in out and "row 3, column 6" in out
    assert "'CamVid_old'" in _run("taxonomy", "import", str(lists / "labels_old.csv"))
    flat = env / "rugd"
    flat.mkdir()
    (flat / "labels.csv").write_text(LABELS)
    assert "'rugd'" in _run("taxonomy", "import", str(flat / "labels.csv"))


def test_identical_target_class_lists_are_reused_and_the_reuse_is_reported(env: Path) -> None:
    camvid = _dataset(env, "CamVid", {"labels.csv": LABELS, "master_labels_cityscapes.csv": MASTER})
    idd = _dataset(env, "IDD", {"labels.csv": LABELS, "master_labels_cityscapes.csv": MASTER})
    _run("taxonomy", "import", str(camvid / "labels.csv"))
    _run("taxonomy", "import", str(idd / "labels.csv"))
    first = _run("mapping", "import", str(camvid / "master_labels_cityscapes.csv"), "--source", "CamVid")
    assert "target taxonomy 'cityscapes' created" in first
    assert "duplicate_source_name" in first  # the Bicyclist cell applies to ids 2 and 3
    second = _run("mapping", "import", str(idd / "master_labels_cityscapes.csv"), "--source", "IDD")
    assert "target taxonomy 'cityscapes' reused: identical class list" in second
    named = _run(
        "mapping", "import", str(idd / "master_labels_cityscapes.csv"), "--source", "IDD",
        "--target-name", "cs19", "--name", "IDD again",
    )  # fmt: skip
    assert "reused: identical class list; the name 'cs19' was not applied" in named
    assert "cs19" not in _run("taxonomy", "list")


def test_target_name_is_honoured_or_refused_never_silently_changed(env: Path) -> None:
    lists = _dataset(env, "CamVid", {"labels.csv": LABELS, "master_labels_cityscapes.csv": MASTER})
    (lists / "other.csv").write_text(OTHER_MASTER)
    _run("taxonomy", "import", str(lists / "labels.csv"))
    out = _run(
        "mapping", "import", str(lists / "master_labels_cityscapes.csv"), "--source", "CamVid",
        "--target-name", "cs-mini",
    )  # fmt: skip
    assert "target taxonomy 'cs-mini' created" in out
    refused = runner.invoke(
        app, ["mapping", "import", str(lists / "other.csv"), "--source", "CamVid", "--target-name", "cs-mini"]
    )
    assert refused.exit_code == 1
    assert "'cs-mini' already exists with a different class list" in refused.output
    (lists / "master_labels_cs-mini.csv").write_text(OTHER_MASTER)  # a derived name may be suffixed
    derived = _run("mapping", "import", str(lists / "master_labels_cs-mini.csv"), "--source", "CamVid")
    assert "target taxonomy created as 'cs-mini (2)': 'cs-mini' is taken by a different class list" in derived


def test_authors_pseudo_label_mapping_command_states_the_conversion(env: Path) -> None:
    lists = _dataset(env, "CamVid", {"labels.csv": LABELS, "master_labels_cityscapes.csv": MASTER})
    _run("taxonomy", "import", str(lists / "labels.csv"))
    _run("mapping", "import", str(lists / "master_labels_cityscapes.csv"), "--source", "CamVid")
    out = _run("mapping", "authors-pseudo-labels", "cityscapes")
    assert "created mapping 2 'cityscapes pseudo-labels (void stored as 2)'" in out
    assert "pixel value 2 (the authors' void) and 255 read as ignore" in out
    assert "reused mapping 2" in _run("mapping", "authors-pseudo-labels", "cityscapes")


def test_a_target_typo_is_refused_naming_the_classes_until_a_target_is_chosen(env: Path) -> None:
    lists = _dataset(env, "CamVid", {"labels.csv": LABELS, "master_labels_cityscapes.csv": MASTER})
    (lists / "typo.csv").write_text(MASTER.replace("1,bicycle,", "1,bicycel,"))
    _run("taxonomy", "import", str(lists / "labels.csv"))
    _run("mapping", "import", str(lists / "master_labels_cityscapes.csv"), "--source", "CamVid")
    refused = runner.invoke(app, ["mapping", "import", str(lists / "typo.csv"), "--source", "CamVid"])
    assert refused.exit_code == 1
    assert "close to those of taxonomy 'cityscapes'" in refused.output
    assert "class 1 is 'bicycel' in the file, 'bicycle' in the taxonomy" in refused.output
    assert "choose with --target 'cityscapes' or --new-target" in refused.output
    chosen = _run(
        "mapping", "import", str(lists / "typo.csv"), "--source", "CamVid", "--target", "cityscapes",
        "--name", "fixed",
    )  # fmt: skip
    assert "target taxonomy 'cityscapes' chosen; the file's names were read as its names: " in chosen
    assert "class 1 'bicycel' read as 'bicycle'" in chosen
    created = _run("mapping", "import", str(lists / "typo.csv"), "--source", "CamVid", "--new-target")
    assert "target taxonomy '2 classes' created" in created
