"""Migration ``20261202_model_trust`` on SQLite: no ``trust_pickle`` row stays trusted without an admin."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from app.db.migrate import downgrade_database, upgrade_database
from app.db.session import make_engine

NOW = "2026-12-01 00:00:00"


def test_an_old_trust_pickle_flag_is_revoked_and_the_downgrade_keeps_only_recorded_trust(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url, "20261202_review_cas")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO taxonomy (id, name, description, label_count, created_at, updated_at) "
                    "VALUES (1, 't', '', 0, :now, :now)"
                ),
                {"now": NOW},
            )
            for model_id, trusted in ((1, True), (2, False)):
                conn.execute(
                    text(
                        "INSERT INTO model (id, name, description, role, source, spec, taxonomy_id, "
                        "provenance_json, trust_pickle, created_at) VALUES (:id, :name, '', 'teacher', "
                        "'paper_pth', '/x.pth', 1, '{}', :trusted, :now)"
                    ),
                    {"id": model_id, "name": f"m{model_id}", "trusted": trusted, "now": NOW},
                )
        upgrade_database(url, "20261202_model_trust")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, trusted_sha256, conversion_status, conversion_error FROM model ORDER BY id")
            ).all()
        assert rows[0][:3] == (1, None, "revoked") and "admin must trust" in rows[0][3]
        assert rows[1] == (2, None, None, None)

        with engine.begin() as conn:
            conn.execute(text("UPDATE model SET trusted_sha256 = :h WHERE id = 2"), {"h": "a" * 64})
        downgrade_database(url, "20261202_review_cas")
        with engine.connect() as conn:
            flags = conn.execute(text("SELECT id, trust_pickle FROM model ORDER BY id")).all()
        assert [(i, bool(f)) for i, f in flags] == [(1, False), (2, True)]
    finally:
        engine.dispose()
