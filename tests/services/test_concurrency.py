"""Two editors on the same base version: one wins, the other gets a 409-style StaleVersion."""

from __future__ import annotations

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
    assert isinstance(outcome.get("result"), service.StaleVersion), outcome
    with unit_of_work(session_factory) as s:
        head = service.current_version(s, mapping_id)
        assert head.number == first_version.number == 2
        assert ("sky", 2) in service.version_edges(head).edges
        assert ("road", 1) not in service.version_edges(head).edges
