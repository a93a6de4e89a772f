"""``unilabel mapping suggest``: a draft master_labels CSV and an evidence report from names and the
approved mappings in the database; refusals are one-line errors with exit code 1 (2 for bad options)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.db.session import make_engine, make_sessionmaker
from app.domain.reference_csv import parse_master_labels_csv
from app.services import mappings as mapping_service
from tests import factories

runner = CliRunner()
HEADER = "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"
OLD = HEADER + "0,Void,0,,,,,,\n1,Bicyclist,1,,,,,,\n2,Road,2,,,,,,\n3,Tree,3,,,,,,\n"
NEW = HEADER + "0,unlabeled,0,,,,,,\n1,human--rider--bicyclist,1,,,,,,\n2,roads,2,,,,,,\n3,zzz,3,,,,,,\n"
MASTER = "trainId,name\n0,road,Road\n1,person,\n2,rider,Bicyclist\n3,vegetation,Tree\n255,void,Void\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    for name, text in (("old", OLD), ("new", NEW)):
        (tmp_path / f"{name}.csv").write_text(text)
        assert (
            runner.invoke(
                app, ["taxonomy", "import", str(tmp_path / f"{name}.csv"), "--name", name]
            ).exit_code
            == 0
        )
    (tmp_path / "master_labels_drive.csv").write_text(MASTER)
    r = runner.invoke(
        app, ["mapping", "import", str(tmp_path / "master_labels_drive.csv"), "--source", "old"]
    )
    assert r.exit_code == 0, r.output
    return tmp_path


def _review_all(database: Path, action: str = "approve") -> None:
    engine = make_engine(f"sqlite:///{database}")
    try:
        with make_sessionmaker(engine)() as session:
            author, _ = factories.make_user(session, role="editor")
            reviewer, _ = factories.make_user(session, role="reviewer")
            for row in mapping_service.list_mappings(session)[0]:
                version = mapping_service.current_version(session, row.id)
                mapping_service.submit_for_review(session, version_id=version.id, author=author)
                decide = mapping_service.approve if action == "approve" else mapping_service.reject
                decide(session, version_id=version.id, reviewer=reviewer)
            session.commit()
    finally:
        engine.dispose()


def _suggest(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["mapping", "suggest", *args])
    return result.exit_code, result.output


def test_suggest_writes_a_draft_csv_and_an_evidence_report(env: Path) -> None:
    _review_all(env / "cli.db")
    out = env / "out"
    code, output = _suggest("--target", "drive", "--source", "new", "--out-dir", str(out))
    assert code == 0, output
    assert "2 of 4 labels mapped from 1 approved mapping(s)" in output
    master = parse_master_labels_csv((out / "master_labels_drive.csv").read_text())
    assert master.edges == {
        ("roads", 0),
        ("human--rider--bicyclist", 2),
        ("unlabeled", 255),
        ("zzz", 255),
    }
    assert [n for _, n in master.target_classes] == ["road", "person", "rider", "vegetation"]
    report = (out / "master_labels_drive.evidence.md").read_text()
    assert "# Suggested mapping: `new` -> `drive`" in report
    assert "- `old -> drive` v1 (source taxonomy `old`)" in report
    assert "### `human--rider--bicyclist` -> `rider`" in report
    assert "mapped to `rider` in 1 of 1 other approved mapping with a label named like it" in report
    assert "old -> drive v1: `Bicyclist` (same last part)" in report
    assert "### `zzz` -> void\n\n- no evidence" in report
    code, output = _suggest("--target", "drive", "--source", "new", "--out-dir", str(out))
    assert code == 1 and "pass --force to overwrite" in output
    assert _suggest("--target", "drive", "--source", "new", "--out-dir", str(out), "--force")[0] == 0


def test_drafts_and_rejected_versions_are_no_evidence_so_names_alone_decide(env: Path) -> None:
    code, output = _suggest("--target", "drive", "--source", "new", "--out-dir", str(env / "draft"))
    assert code == 0 and "from 0 approved mapping(s)" in output  # the imported version is a draft
    _review_all(env / "cli.db", "reject")
    code, output = _suggest("--target", "drive", "--source", "new", "--out-dir", str(env / "out"))
    assert code == 0 and "from 0 approved mapping(s)" in output
    report = (env / "out" / "master_labels_drive.evidence.md").read_text()
    assert "- none: suggestions come from names only" in report
    assert "### `roads` -> `road`" in report and "(names are weak evidence)" in report
    assert "mapped to `" not in report


def test_refusals_are_one_line_errors(env: Path) -> None:
    code, output = _suggest("--target", "nope", "--source", "new", "--out-dir", str(env))
    assert code == 1 and "error:" in output and "nope" in output
    code, output = _suggest("--target", "new", "--source", "old", "--out-dir", str(env / "out"))
    assert code == 0, output  # a class list 0..3: allowed as a target
    code, output = _suggest("--target", "drive", "--source", "new", "--out-dir", str(env))
    assert code == 1 and "master_labels_drive.csv exist(s)" in output  # the imported file is safe
    assert (env / "master_labels_drive.csv").read_text() == MASTER
    code, output = _suggest("--target", "drive", "--source", "new", "--min-score", "2")
    assert code == 2
    bad = env / "syn.toml"
    bad.write_text('[[group]]\nnames = ["car"]\nbroader = ["vehicle"]\n')
    code, output = _suggest(
        "--target", "drive", "--source", "new", "--synonyms", str(bad), "--out-dir", str(env / "x")
    )
    assert code == 1 and "name no group: vehicle" in output
    code, output = _suggest("--target", "drive", "--source", "new", "--synonyms", str(env / "missing.toml"))
    assert code == 1 and "cannot read" in output
    assert not (env / "x").exists()


def test_a_custom_synonym_table_replaces_the_shipped_one(env: Path) -> None:
    table = env / "syn.toml"
    table.write_text('[[group]]\nnames = ["vegetation", "zzz"]\n')
    code, output = _suggest(
        "--target", "drive", "--source", "new", "--synonyms", str(table), "--out-dir", str(env / "o")
    )
    assert code == 0, output
    master = parse_master_labels_csv((env / "o" / "master_labels_drive.csv").read_text())
    assert ("zzz", 3) in master.edges
