"""The size limits of a unit of work, and the checks every mapping write runs (services layer).

A process configures its session factory once with :func:`use_limits` (the web app, the CLI and the
worker do, from ``Settings.limits``); a session built without them checks
:data:`app.domain.limits.DEFAULT_LIMITS`. The limits travel in ``Session.info`` so that every
service sees the same values without each call site passing them along.

API:
    use_limits(factory, limits) -> None          sessions of ``factory`` carry ``limits``
    limits_of(session) -> Limits
    edges_within_limit(session, edges, *, before) -> OntologyMapping   (count checked before building it)
    check_new_edges(session, *, mapping_id, new, old) -> None
        ``new`` may hold at most ``max_mapping_edges`` edges (unless it shrinks ``old``), and every
        edge it adds to ``old`` must name a source label of the mapping's source taxonomy and a class
        of its target (or void). Edges already stored may stay: a legacy version is still editable.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session, sessionmaker

from app.db import repositories as repo
from app.domain.errors import InvalidInput, NotFound
from app.domain.limits import DEFAULT_LIMITS, Limits
from app.domain.mapping import VOID, OntologyMapping

_KEY = "unilabel.limits"
SHOWN = 5  # offending names quoted in a message


def use_limits(factory: sessionmaker[Session], limits: Limits) -> None:
    """Give every session of ``factory`` these limits (``Session.info``)."""
    factory.configure(info={_KEY: limits})


def limits_of(session: Session) -> Limits:
    value = session.info.get(_KEY)
    return value if isinstance(value, Limits) else DEFAULT_LIMITS


def edges_within_limit(session: Session, edges: Iterable[tuple[str, int]], *, before: int) -> OntologyMapping:
    """``edges`` as a mapping, refused by count first: a 200,000-edge request is answered before
    the costly steps (validation, hashing) run. ``before``: the edge count of the version it replaces.
    """
    pairs = frozenset((str(n), int(t)) for n, t in edges)
    limits_of(session).check_edge_count(len(pairs), before=before)
    return OntologyMapping(pairs)


def _listed(values: list[str]) -> str:
    more = f" and {len(values) - SHOWN} more" if len(values) > SHOWN else ""
    return ", ".join(values[:SHOWN]) + more


def check_new_edges(
    session: Session, *, mapping_id: int, new: OntologyMapping, old: OntologyMapping | None
) -> None:
    """Refuse ``new`` (the next version of mapping ``mapping_id``) over the limit or with bad edges.

    Raises:
        InvalidInput: too many edges (field ``edges``), unknown source label names (``source_name``)
            or unknown target ids (``target_id``); the message states the limit or names the first
            few offenders and their count.
    """
    before = old.edges if old is not None else frozenset()
    limits_of(session).check_edge_count(len(new), before=len(before))
    added = new.edges - before
    if not added:
        return
    mapping = repo.get_mapping(session, mapping_id)
    if mapping is None:
        raise NotFound(f"mapping {mapping_id} does not exist", field="mapping_id")
    names = {n for n, _ in added}
    unknown = sorted(names - repo.label_names(session, mapping.source_taxonomy_id))
    if unknown:
        source = repo.get_taxonomy(session, mapping.source_taxonomy_id)
        where = repr(source.name) if source else str(mapping.source_taxonomy_id)
        raise InvalidInput(
            f"{len(unknown)} source label name(s) are not in source taxonomy {where}: "
            f"{_listed([repr(n) for n in unknown])}",
            field="source_name",
            details={"unknown_source_names": unknown[:100], "count": len(unknown)},
        )
    allowed = repo.label_values(session, mapping.target_taxonomy_id) | {VOID}
    bad = sorted({t for _, t in added} - allowed)
    if bad:
        raise InvalidInput(
            f"{len(bad)} target id(s) are not classes of the target taxonomy (nor {VOID} = void): "
            f"{_listed([str(t) for t in bad])}",
            field="target_id",
            details={"unknown_target_ids": bad[:100], "count": len(bad)},
        )
