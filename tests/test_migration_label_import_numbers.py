"""Migration ``20261202_label_import_numbers``: existing label_import jobs get their numbers in the
new table, in id order; a number a past race gave twice moves to the run's next free number (and
its params_json says so); the downgrade drops the table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from app.db.migrate import downgrade_database, upgrade_database
from app.db.session import make_engine

BEFORE = "20261202_experiments"
NOW = "2026-12-01 00:00:00"


def _filler(type_name: str) -> Any:
    name = type_name.upper()
    if "INT" in name or "BOOL" in name:
        return 0
    if "DATE" in name or "TIME" in name:
        return NOW
    return ""


def test_existing_numbers_are_copied_and_a_number_given_twice_is_renumbered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url, BEFORE)
    engine = make_engine(url)
    try:
        required = [c for c in inspect(engine).get_columns("job") if not c["nullable"] and c["name"] != "id"]
        jobs = {
            1: ("pseudo_label", {}),
            2: ("label_import", {"run_job_id": 1, "version": 1}),
            3: ("label_import", {"run_job_id": 1, "version": 1}),  # a past race: version 1 twice
            4: ("label_import", {"run_job_id": 1, "version": 2}),
            5: ("label_import", {"run_job_id": 99, "version": 1}),  # no such run: not numbered
        }
        with engine.begin() as conn:
            for job_id, (kind, params) in jobs.items():
                values = {c["name"]: _filler(str(c["type"])) for c in required}
                values |= {"id": job_id, "kind": kind, "params_json": json.dumps(params)}
                names = ", ".join(f'"{n}"' for n in values)
                marks = ", ".join(f":{n}" for n in values)
                conn.execute(text(f"INSERT INTO job ({names}) VALUES ({marks})"), values)
        upgrade_database(url, "20261202_label_import_numbers")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT run_job_id, number, job_id FROM label_import_number ORDER BY number")
            ).all()
            params = {
                i: json.loads(p) for i, p in conn.execute(text("SELECT id, params_json FROM job")).all()
            }
        assert [tuple(r) for r in rows] == [(1, 1, 2), (1, 2, 4), (1, 3, 3)]
        assert params[3]["version"] == 3 and params[2]["version"] == 1 and params[4]["version"] == 2
        downgrade_database(url, BEFORE)
        assert "label_import_number" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
