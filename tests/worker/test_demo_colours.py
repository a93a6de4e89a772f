"""The ML demo's target classes are painted like the source labels they come from."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from worker.demo import EDGES, SOURCE, TARGET


def test_demo_target_colours_match_their_meaning_and_the_source() -> None:
    colors = {lb.name: lb.color for lb in TARGET.labels}
    assert colors["sky"] == "#4682b4"  # steel blue, as the source's sky (was red from a fallback)
    assert colors["drivable"] == "#804080"  # Cityscapes road purple-grey (was blue)
    source = {lb.name: lb.color for lb in SOURCE.labels}
    target_of = {name: t for name, t in EDGES if t >= 0}
    for src, tgt in (("road", 0), ("car", 1), ("tree", 2), ("sky", 3)):
        assert target_of[src] == tgt and source[src] == TARGET.labels[tgt].color


def test_an_earlier_demo_target_without_colours_gets_the_demo_colours(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    from app.domain.taxonomy import class_list_taxonomy
    from app.services import taxonomies
    from tests.web.pages.conftest import fake_model_folder
    from worker.demo import make_dataset, register_demo

    with session_factory() as s:  # registered by an older `demo ml`: a bare class list
        old = class_list_taxonomy(TARGET.name, enumerate(TARGET.names))
        taxonomies.create_taxonomy(s, taxonomy=old)
        s.commit()
    root = make_dataset(settings.data_dir / "streets", count=2, height=16, width=16)
    teacher = fake_model_folder(settings.data_dir / "teacher", TARGET.names)
    for _ in range(2):  # the second run finds everything registered and still keeps the colours
        with session_factory() as s:
            register_demo(s, settings, dataset_root=root, teacher_dir=teacher)
            s.commit()
    with session_factory() as s:
        row = taxonomies.get_taxonomy_by_name(s, TARGET.name)
        stored = taxonomies.list_labels(s, row.id)
    assert [lb.color for lb in stored] == [lb.color for lb in TARGET.labels]
    assert not any(lb.color_generated for lb in stored)
