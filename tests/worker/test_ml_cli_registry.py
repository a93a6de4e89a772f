"""``pseudo-label``/``evaluate`` by database ids: registered model, dataset and mapping (CliRunner).

The database is the migrated test database of ``tests/conftest.py``; rows are registered through the
services (``worker.demo.register_demo``: source/target taxonomies, an approved mapping, a synthetic
dataset and the tiny random teacher). The CLI finds the database through ``UNILABEL_DATABASE_URL``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from app.config import Settings
from app.db.session import make_engine, make_sessionmaker, unit_of_work
from app.domain.mapping import VOID
from app.domain.taxonomy import Taxonomy
from app.services import mappings as mapping_service
from app.services import reviews, taxonomies, taxonomy_files, users
from worker.demo import EDGES, SOURCE, make_dataset, make_teacher, register_demo

CPU = ["--device", "cpu", "--workers", "0"]


@pytest.fixture(scope="module")
def teacher_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_teacher(tmp_path_factory.mktemp("teacher") / "tiny")


@dataclass(frozen=True)
class Registered:
    model: int
    dataset: int
    mapping: int  # demo mapping: v1 approved, v2 draft
    v1_hash: str
    v2_hash: str
    draft_mapping: int  # a mapping with a draft version only
    teacher: Path
    root: Path
    files: Path  # the same taxonomy and mapping v1 exported as CSV files


@pytest.fixture
def registered(settings: Settings, teacher_template: Path, monkeypatch: pytest.MonkeyPatch) -> Registered:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", settings.database_url)
    settings.ensure_dirs()
    root = make_dataset(settings.data_dir / "streets", count=4, height=32, width=48)
    teacher = Path(shutil.copytree(teacher_template, settings.data_dir / "teacher"))
    files = settings.data_dir / "files"
    files.mkdir()
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as s:
            ids = register_demo(s, settings, dataset_root=root, teacher_dir=teacher)
            v1 = mapping_service.get_version(s, ids.mapping_version_id)
            v2 = mapping_service.replace_edges(
                s,
                mapping_id=v1.mapping_id,
                edges=[(src, tgt) for src, tgt in EDGES if src != "car"] + [("car", VOID)],
                base_version_id=v1.id,
                message="cars to void",
            )
            mapping = mapping_service.get_mapping(s, v1.mapping_id)
            draft = mapping_service.create_mapping(
                s,
                name="draft only",
                source_taxonomy_id=mapping.source_taxonomy_id,
                target_taxonomy_id=mapping.target_taxonomy_id,
                edges=EDGES,
            )
            (files / "labels.csv").write_text(
                taxonomy_files.export_taxonomy(s, mapping.source_taxonomy_id, fmt="labels_csv")
            )
            (files / "master_labels_demo-4.csv").write_text(
                mapping_service.export_master_labels(s, version_id=v1.id)
            )
            result = Registered(
                ids.model_id, ids.dataset_id, mapping.id, v1.content_hash, v2.content_hash, draft.id,
                teacher, root, files,
            )  # fmt: skip
    finally:
        engine.dispose()
    return result


def _labels(out: Path) -> dict[str, np.ndarray]:
    return {
        str(p.relative_to(out)): np.asarray(Image.open(p)) for p in sorted((out / "labels").rglob("*.png"))
    }


def test_pseudo_label_by_ids_matches_the_same_run_from_files(
    cli: typer.Typer, registered: Registered
) -> None:
    r, runner, out = registered, CliRunner(), registered.root.parent
    by_ids = ["--model", str(r.model), "--dataset", str(r.dataset), "--mapping", str(r.mapping)]
    res = runner.invoke(cli, ["pseudo-label", *by_ids, *CPU, "--out", str(out / "ids")])
    assert res.exit_code == 0, res.output
    assert "written 4" in res.output
    by_files = [
        *("--model", str(r.teacher), "--root", str(r.root), "--images", "images/{split}/{stem}.png"),
        *("--labels", "labels/{split}/{stem}.png", "--source-taxonomy", str(r.files / "labels.csv")),
        *("--mapping", str(r.files / "master_labels_demo-4.csv")),
    ]
    res = runner.invoke(cli, ["pseudo-label", *by_files, *CPU, "--out", str(out / "files")])
    assert res.exit_code == 0, res.output

    ids_labels, file_labels = _labels(out / "ids"), _labels(out / "files")
    assert len(ids_labels) == 4 and ids_labels.keys() == file_labels.keys()
    assert all(np.array_equal(ids_labels[k], file_labels[k]) for k in ids_labels)
    summary = json.loads((out / "ids/summary.json").read_text())
    assert summary["mapping_hash"] == r.v1_hash
    assert json.loads((out / "files/summary.json").read_text())["mapping_hash"] == r.v1_hash


def test_evaluate_by_ids_records_the_hash_and_takes_a_split(cli: typer.Typer, registered: Registered) -> None:
    r, runner, out = registered, CliRunner(), registered.root.parent
    base = ["evaluate", "--model", str(r.model), "--dataset", str(r.dataset), "--mapping", str(r.mapping)]
    res = runner.invoke(cli, [*base, *CPU, "--out", str(out / "all.json")])
    assert res.exit_code == 0, res.output
    assert "mIoU" in res.output and "vegetation" in res.output
    metrics = json.loads((out / "all.json").read_text())
    assert metrics["evaluated"] == 4 and metrics["mapping_hash"] == r.v1_hash

    res = runner.invoke(cli, [*base, "--split", "val", *CPU, "--out", str(out / "val.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "val.json").read_text())["evaluated"] == 2
    res = runner.invoke(cli, [*base, "--split", "test", *CPU])
    assert res.exit_code == 2 and "has no split 'test'" in res.output

    # A registered model with the data and mapping given as files.
    mixed = [
        *(
            "evaluate",
            "--model",
            str(r.model),
            "--root",
            str(r.root),
            "--images",
            "images/{split}/{stem}.png",
        ),
        *("--labels", "labels/{split}/{stem}.png", "--source-taxonomy", str(r.files / "labels.csv")),
        *("--mapping", str(r.files / "master_labels_demo-4.csv"), "--out", str(out / "mixed.json")),
    ]
    res = runner.invoke(cli, [*mixed, *CPU])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "mixed.json").read_text())["metrics"] == metrics["metrics"]


def test_mapping_version_pin(cli: typer.Typer, registered: Registered) -> None:
    r, runner, out = registered, CliRunner(), registered.root.parent
    base = ["pseudo-label", "--model", str(r.model), "--dataset", str(r.dataset), *CPU]
    res = runner.invoke(cli, [*base, "--mapping", f"{r.mapping}@2", "--out", str(out / "v2")])
    assert res.exit_code == 0, res.output
    assert "version 2 of mapping 'demo-streets -> demo-4' is draft, not approved" in res.output
    assert json.loads((out / "v2/summary.json").read_text())["mapping_hash"] == r.v2_hash
    # Plain id: the newest *approved* version (1), not the newer draft head.
    res = runner.invoke(cli, [*base, "--mapping", str(r.mapping), "--out", str(out / "v1")])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "v1/summary.json").read_text())["mapping_hash"] == r.v1_hash


def test_unapproved_mapping_and_unknown_ids_exit_2(cli: typer.Typer, registered: Registered) -> None:
    r, runner = registered, CliRunner()
    good = {"--model": str(r.model), "--dataset": str(r.dataset), "--mapping": str(r.mapping)}
    cases = [
        ({"--mapping": str(r.draft_mapping)}, "mapping 'draft only' (id"),
        ({"--mapping": str(r.draft_mapping)}, "has no approved version"),
        ({"--model": "999"}, "model 999 does not exist"),
        ({"--dataset": "999"}, "dataset 999 does not exist"),
        ({"--mapping": "999"}, "mapping 999 does not exist"),
        ({"--mapping": f"{r.mapping}@9"}, f"mapping {r.mapping} has no version 9"),
    ]
    for change, message in cases:
        args = [item for pair in (good | change).items() for item in pair]
        for command in (["evaluate"], ["pseudo-label", "--out", str(r.root.parent / "never")]):
            res = runner.invoke(cli, [*command, *args, *CPU])
            assert res.exit_code == 2, (change, res.output)
            assert message in res.output and "Traceback" not in res.output, (change, res.output)
    assert not (r.root.parent / "never").exists()


def test_dataset_id_with_file_options_is_refused(cli: typer.Typer, registered: Registered) -> None:
    r, runner = registered, CliRunner()
    base = ["evaluate", "--model", str(r.model), "--dataset", str(r.dataset), *CPU]
    res = runner.invoke(cli, [*base, "--root", str(r.root), "--label-encoding", "ids8"])
    assert res.exit_code == 2
    assert f"--dataset {r.dataset} supplies the root" in res.output
    assert "leave out --root, --label-encoding" in res.output
    res = runner.invoke(cli, [*base, "--source-taxonomy", str(r.files / "labels.csv")])
    assert res.exit_code == 2 and "leave out --source-taxonomy" in res.output
    # A registered mapping brings its own source taxonomy.
    res = runner.invoke(
        cli,
        [
            *(
                "evaluate",
                "--model",
                str(r.model),
                "--root",
                str(r.root),
                "--images",
                "images/{split}/{stem}.png",
            ),
            *("--labels", "labels/{split}/{stem}.png", "--mapping", str(r.mapping)),
            *("--source-taxonomy", str(r.files / "labels.csv"), *CPU),
        ],
    )
    assert res.exit_code == 2 and "brings its source taxonomy" in res.output


def test_mapping_from_another_source_taxonomy_is_refused(
    cli: typer.Typer, registered: Registered, settings: Settings
) -> None:
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(make_sessionmaker(engine)) as s:
            other = taxonomies.create_taxonomy(
                s, taxonomy=Taxonomy(name="other streets", labels=SOURCE.labels)
            )
            target = mapping_service.get_mapping(s, registered.mapping).target_taxonomy_id
            mapping = mapping_service.create_mapping(
                s, name="other", source_taxonomy_id=other.id, target_taxonomy_id=target, edges=EDGES
            )
            admin, _ = users.ensure_local_admin(s)
            version = mapping_service.current_version(s, mapping.id)
            reviews.submit_for_review(s, version_id=version.id, author=admin)
            reviews.approve(s, version_id=version.id, reviewer=admin, message="ok")
            mapping_id = mapping.id
    finally:
        engine.dispose()
    args = [
        "--model",
        str(registered.model),
        "--dataset",
        str(registered.dataset),
        "--mapping",
        str(mapping_id),
    ]
    res = CliRunner().invoke(cli, ["evaluate", *args, *CPU])
    assert res.exit_code == 2
    assert "dataset 'demo-streets' is labelled in taxonomy" in res.output and "'other'" in res.output


def test_ids_without_a_database_exit_2(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nowhere.db"
    monkeypatch.setenv("UNILABEL_DATABASE_URL", f"sqlite:///{missing}")
    res = CliRunner().invoke(cli, ["evaluate", "--model", "1", "--dataset", "1", *CPU])
    assert res.exit_code == 2 and f"no database at {missing}" in res.output
    assert not missing.exists()
