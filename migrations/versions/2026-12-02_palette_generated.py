"""Taxonomy palette provenance (issue 11): ``label.color_generated``, and colours for labels without one.

A label imported without a colour gets one from ``app.domain.palettes.generated_colors`` and this
flag, so that the taxonomy page can say "generated" (and a recolour by a person clears it). Labels
stored before this revision without a colour get one here the same way (ignored labels black), flagged
generated; the downgrade clears those colours again and drops the flag.

Revision ID: 20261202_palette_generated
Revises: 20261202_import_originals
Create Date: 2026-12-02
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_palette_generated"
down_revision: str | None = "20261202_import_originals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of app.domain.palettes.generated_colors as of this revision (migrations do not import
# code that may change after them).
_GOLDEN = 0.618033988749895
_TONES = ((0.65, 0.90), (0.85, 0.60), (0.45, 0.75), (0.95, 0.85), (0.40, 0.50))
_MIN_DISTANCE = 40.0


def _rgb(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def _distance(a: str, b: str) -> float:
    return float(sum((x - y) ** 2 for x, y in zip(_rgb(a), _rgb(b), strict=True)) ** 0.5)


def _generated(count: int, taken: list[str]) -> list[str]:
    used, out, step = [c.lower() for c in taken], [], 0
    for _ in range(count):
        best, best_gap = "", -1.0
        for _attempt in range(64):
            s, v = _TONES[step % len(_TONES)]
            r, g, b = colorsys.hsv_to_rgb((0.07 + step * _GOLDEN) % 1.0, s, v)
            candidate = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
            step += 1
            gap = min((_distance(candidate, c) for c in used), default=float("inf"))
            if gap > best_gap:
                best, best_gap = candidate, gap
            if gap >= _MIN_DISTANCE:
                break
        out.append(best)
        used.append(best)
    return out


def _fill_missing_colours() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text('SELECT id, taxonomy_id, color, "ignore" FROM label ORDER BY taxonomy_id, position')
    ).all()
    by_taxonomy: dict[int, list[tuple[int, str | None, bool]]] = {}
    for label_id, taxonomy_id, color, ignore in rows:
        by_taxonomy.setdefault(taxonomy_id, []).append((label_id, color, bool(ignore)))
    update = sa.text("UPDATE label SET color = :color, color_generated = :yes WHERE id = :id")
    for labels in by_taxonomy.values():
        missing = [label_id for label_id, color, ignore in labels if color is None and not ignore]
        colors = _generated(len(missing), [c for _, c, _ in labels if c is not None])
        fill = dict(zip(missing, colors, strict=True))
        for label_id, color, _ignore in labels:
            if color is None:
                conn.execute(update, {"color": fill.get(label_id, "#000000"), "yes": True, "id": label_id})


def upgrade() -> None:
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("color_generated", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    _fill_missing_colours()


def downgrade() -> None:
    op.execute(sa.text("UPDATE label SET color = NULL WHERE color_generated"))
    with op.batch_alter_table("label", schema=None) as batch_op:
        batch_op.drop_column("color_generated")
