"""``unilabel mapping suggest --survey JOB`` (issue 15): a succeeded survey's data is evidence in the
draft and the report; a survey of other taxonomies, an unfinished or a missing one is refused."""

from __future__ import annotations

import json
from pathlib import Path

from app.db.models_registry import Dataset, Job, Model
from app.db.session import make_engine, make_sessionmaker
from app.domain.reference_csv import parse_master_labels_csv
from app.domain.survey import SurveyStats
from app.services import taxonomies as taxonomy_service
from tests.test_cli_suggestions import _suggest
from tests.test_cli_suggestions import env as env  # noqa: F401  (fixture)


def _survey(
    database: Path, out: Path, *, source: str, target: str = "drive", status: str = "succeeded"
) -> int:
    """A survey job whose teacher puts `zzz` on vegetation (what ``worker.survey_job`` writes)."""
    engine = make_engine(f"sqlite:///{database}")
    try:
        with make_sessionmaker(engine)() as s:
            src = taxonomy_service.get_taxonomy_by_name(s, source)
            tgt = taxonomy_service.get_taxonomy_by_name(s, target)
            n = len(list(s.query(Job)))
            dataset = Dataset(name=f"d{n}", taxonomy_id=src.id, root=str(out))
            model = Model(name=f"m{n}", source="folder", spec=str(out), taxonomy_id=tgt.id)
            s.add_all([dataset, model])
            s.flush()
            stats = SurveyStats(("road", "person", "rider", "vegetation"))
            stats.add("zzz", [0, 0, 30, 8500, 1470], [0, 0, 30.0, 8500, 1470], images=7)
            # rider on 0.1 % of another label too: on zzz (0.3 %) it is thin but not specific (3x),
            # so the thin tier (10x) does not admit it
            stats.add("yyy", [9000, 0, 10, 0, 990], [9000.0, 0, 10, 0, 990], images=7)
            stats.images = 7
            out.mkdir(parents=True)
            body = {"survey": stats.to_json(), "provenance": {"sample": {"seed": 0}}}
            (out / "survey.json").write_text(json.dumps(body))
            job = Job(
                kind="survey",
                status=status,
                name="s",
                params_json="{}",
                dataset_id=dataset.id,
                model_id=model.id,
                output_dir=str(out),
            )
            s.add(job)
            s.commit()
            return job.id
    finally:
        engine.dispose()


def test_a_survey_adds_data_evidence_to_the_draft_and_the_report(env: Path) -> None:  # noqa: F811
    job = _survey(env / "cli.db", env / "survey", source="new")
    out = env / "out"
    code, output = _suggest(
        "--target", "drive", "--source", "new", "--out-dir", str(out), "--survey", str(job)
    )
    assert code == 0, output
    master = parse_master_labels_csv((out / "master_labels_drive.csv").read_text())
    assert ("zzz", 3) in master.edges  # void without the survey (no name evidence)
    report = (out / "master_labels_drive.evidence.md").read_text()
    assert "### `zzz` -> `vegetation`" in report
    assert "data: 85% of this label's pixels are predicted `vegetation`" in report
    assert f"survey job {job} (7 images)" in report


def test_survey_refusals(env: Path) -> None:  # noqa: F811
    other = _survey(env / "cli.db", env / "s1", source="old")
    code, output = _suggest(
        "--target", "drive", "--source", "new", "--out-dir", str(env / "o"), "--survey", str(other)
    )
    assert code == 1 and f"survey job {other} surveyed taxonomy" in output
    queued = _survey(env / "cli.db", env / "s2", source="new", status="queued")
    code, output = _suggest(
        "--target", "drive", "--source", "new", "--out-dir", str(env / "o"), "--survey", str(queued)
    )
    assert code == 1 and "only a succeeded one is evidence" in output
    code, output = _suggest(
        "--target", "drive", "--source", "new", "--out-dir", str(env / "o"), "--survey", "999"
    )
    assert code == 1 and "job 999 does not exist" in output
    assert _suggest("--target", "drive", "--source", "new", "--survey", "0")[0] == 2
    assert not (env / "o").exists()


def test_data_min_share_lets_a_thin_target_be_evidence(env: Path) -> None:  # noqa: F811
    """`zzz` gives 0.3 % of its pixels to rider: evidence with --data-min-share 0.001, not at the default."""
    job = _survey(env / "cli.db", env / "survey", source="new")
    common = ("--target", "drive", "--source", "new", "--survey", str(job))
    for share, listed in ((None, False), ("0.001", True)):
        out = env / f"out-{share}"
        extra = ("--data-min-share", share) if share else ()
        code, output = _suggest(*common, "--out-dir", str(out), *extra)
        assert code == 0, output
        zzz = (out / "master_labels_drive.evidence.md").read_text().split("### `zzz`")[1].split("###")[0]
        assert ("- `rider` (2): score 0.003" in zzz) is listed, zzz
    for bad in ("-0.1", "1.5", "abc"):
        code, output = _suggest(*common, "--out-dir", str(env / "bad"), "--data-min-share", bad)
        assert code == 2 and "--data-min-share" in output, output
    assert not (env / "bad").exists()
