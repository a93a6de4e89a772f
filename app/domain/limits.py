"""Size limits of stored taxonomies and mappings (pure domain layer).

One oversized write (200,000 edges for labels that do not exist) once made the mapping pages take
~20 s for everyone; every write path checks these limits before anything is stored. The values come
from ``Settings`` (``UNILABEL_MAX_TAXONOMY_LABELS``, ``UNILABEL_MAX_MAPPING_EDGES``,
``UNILABEL_MAX_NAME_LENGTH``); the defaults leave room well above the largest real taxonomies
(Mapillary Vistas v2 has 124 labels, COCO-Stuff 182 classes).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.errors import InvalidInput
from app.domain.text import describe_control_characters


@dataclass(frozen=True, slots=True)
class Limits:
    """Largest accepted sizes; every refusal is an ``InvalidInput`` (HTTP 422) naming the limit."""

    max_taxonomy_labels: int = 2000
    max_mapping_edges: int = 20_000
    max_name_length: int = 200

    def check_label_count(self, count: int, *, taxonomy: str) -> None:
        if count > self.max_taxonomy_labels:
            raise InvalidInput(
                f"taxonomy {taxonomy!r} has {count} labels; at most {self.max_taxonomy_labels} are "
                "allowed (UNILABEL_MAX_TAXONOMY_LABELS)",
                field="labels",
                details={"limit": self.max_taxonomy_labels, "count": count},
            )

    def check_edge_count(self, count: int, *, before: int = 0) -> None:
        """Refuse a version with more edges than the limit, unless it shrinks an older, larger one."""
        if count > self.max_mapping_edges and count > before:
            raise InvalidInput(
                f"the mapping would have {count} edges; at most {self.max_mapping_edges} are allowed "
                "(UNILABEL_MAX_MAPPING_EDGES)",
                field="edges",
                details={"limit": self.max_mapping_edges, "count": count},
            )

    def check_name(self, name: str, *, what: str, field: str = "name") -> None:
        """Refuse an over-long name, or one with control characters (they break file names and the
        headers of exports, and PostgreSQL refuses NUL), whichever path it came by (API, page, file)."""
        problem = describe_control_characters(name)
        if problem is not None:
            raise InvalidInput(f"{what} {name[:40]!r} {problem}", field=field)
        if len(name) > self.max_name_length:
            raise InvalidInput(
                f"{what} {name[:40]!r}... is {len(name)} characters long; at most {self.max_name_length} "
                "are allowed (UNILABEL_MAX_NAME_LENGTH)",
                field=field,
                details={"limit": self.max_name_length, "count": len(name)},
            )


DEFAULT_LIMITS = Limits()
