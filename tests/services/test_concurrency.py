"""Editors racing on the same base version: one wins, every other gets a 409-style StaleVersion
that carries the current head (``details.current_version``), whichever way it lost."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.db.session import unit_of_work
from app.services import mappings as service
from tests import factories


@pytest.mark.timeout(60)
def test_racing_edits_on_the_same_base(session_factory: sessionmaker[Session]) -> None:
    with unit_of_work(session_factory) as s:
        mapping_id = factories.make_mapping(s).id
        base_id = service.current_version(s, mapping_id).id

    first = session_factory()
    first_version = service.toggle_edge(
        first, mapping_id=mapping_id, source_name="sky", target_id=2, base_version_id=base_id
    )  # flushed, not committed: the second writer still sees version 1 as the head
    outcome: dict[str, object] = {}

    def second_writer() -> None:
        try:
            with unit_of_work(session_factory) as s:
                service.toggle_edge(
                    s, mapping_id=mapping_id, source_name="road", target_id=1, base_version_id=base_id
                )
            outcome["result"] = "committed"
        except Exception as exc:  # recorded for the assertion below
            outcome["result"] = exc

    thread = threading.Thread(target=second_writer)
    thread.start()
    thread.join(timeout=1.0)  # the second writer blocks on the first one's lock (or already failed)
    first.commit()
    first.close()
    thread.join(timeout=30)
    loser = outcome.get("result")
    assert isinstance(loser, service.StaleVersion), outcome
    assert loser.details["current_version"]["number"] == 2
    assert ["sky", 2] in loser.details["current_version"]["edges"]
    with unit_of_work(session_factory) as s:
        head = service.current_version(s, mapping_id)
        assert head.number == first_version.number == 2
        assert ("sky", 2) in service.version_edges(head).edges
        assert ("road", 1) not in service.version_edges(head).edges


EDITS = [
    (name, target)
    for name in ("road", "sidewalk", "building", "vegetation", "sky", "unlabeled")
    for target in (0, 1, 2, 3)
]


@pytest.mark.timeout(120)
def test_many_racing_edits_all_losers_get_the_current_version(session_factory: sessionmaker[Session]) -> None:
    with unit_of_work(session_factory) as s:
        mapping_id = factories.make_mapping(s).id
        base = service.current_version(s, mapping_id)
        base_id, base_edges = base.id, [list(e) for e in json.loads(base.edges_json)]
    edits = EDITS[:24]
    barrier = threading.Barrier(len(edits))
    results: list[object] = [None] * len(edits)

    def edit(i: int, name: str, target: int) -> None:
        try:
            with unit_of_work(session_factory) as s:
                barrier.wait(timeout=30)
                results[i] = service.toggle_edge(
                    s, mapping_id=mapping_id, source_name=name, target_id=target, base_version_id=base_id
                ).number
        except Exception as exc:  # recorded for the assertions below
            results[i] = exc

    threads = [threading.Thread(target=edit, args=(i, *e)) for i, e in enumerate(edits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert results.count(2) == 1, results
    winner = edits[results.index(2)]
    losers = [r for r in results if r != 2]
    assert all(isinstance(r, service.StaleVersion) for r in losers), losers
    for loser in losers:
        assert isinstance(loser, service.StaleVersion)
        current = loser.details["current_version"]
        # A toggle adds the winner's edge, or removes it when the base version had it.
        assert current["number"] == 2
        assert (list(winner) in current["edges"]) != (list(winner) in base_edges), (winner, base_edges)
    with session_factory() as s:
        assert service.current_version(s, mapping_id).number == 2
