"""Migration ``20261202_palette_generated``: labels stored without a colour get the generated palette
(flagged), the same colours an import gives today; the downgrade clears exactly those."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from app.db.migrate import downgrade_database, upgrade_database
from app.db.session import make_engine
from app.domain.palettes import generated_colors

NOW = "2026-12-01 00:00:00"
LABELS = (
    (0, "void", None, True),
    (1, "road", None, False),
    (2, "car", "#00008e", False),
    (3, "sky", None, False),
)


def test_missing_colours_are_generated_and_flagged_and_the_downgrade_clears_them(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade_database(url, "20261202_import_originals")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO taxonomy (id, name, description, label_count, created_at, updated_at) "
                    "VALUES (1, 't', '', 4, :now, :now)"
                ),
                {"now": NOW},
            )
            for position, (value, name, color, ignore) in enumerate(LABELS):
                conn.execute(
                    text(
                        'INSERT INTO label (taxonomy_id, position, value, name, color, "ignore") '
                        "VALUES (1, :p, :v, :n, :c, :i)"
                    ),
                    {"p": position, "v": value, "n": name, "c": color, "i": ignore},
                )
        upgrade_database(url, "20261202_palette_generated")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT color, color_generated FROM label ORDER BY position")).all()
        expected = generated_colors([False, True, False, True], taken=["#00008e"])
        assert [(c, bool(g)) for c, g in rows] == [
            ("#000000", True),
            (expected[1], True),
            ("#00008e", False),
            (expected[3], True),
        ]
        downgrade_database(url, "20261202_import_originals")
        with engine.connect() as conn:
            colors = [c for (c,) in conn.execute(text("SELECT color FROM label ORDER BY position"))]
        assert colors == [None, None, "#00008e", None]
    finally:
        engine.dispose()
