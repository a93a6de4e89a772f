"""Suggestions in the mapping editor over HTTP: ghost chips, accept (one edit, its own version
message), reject (remembered, Undo), accept all with a preview, draft from evidence; roles; 409s."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.services import mappings as mapping_service
from app.services import reviews as review_service
from app.services import suggestions as suggestion_service
from app.services import users as user_service
from tests import factories
from tests.web.pages.conftest import base_version_of, unescape

# The source labels named like a target class (vegetation, sky) get name evidence; 'road' and
# 'sidewalk' get mapping evidence from another approved mapping (road, sidewalk -> drivable).


@pytest.fixture
def mappings(session_factory: sessionmaker[Session]) -> tuple[int, int]:
    """(a mapping with edges, an empty one) to the same target, plus an approved evidence mapping."""
    with session_factory() as s:
        admin, _ = user_service.ensure_local_admin(s)
        target = factories.make_class_list(s, name="tiny")
        other = factories.make_mapping(s, target=target, name="other → tiny")
        v1 = mapping_service.current_version(s, other.id)
        review_service.submit_for_review(s, version_id=v1.id, author=admin)
        review_service.approve(s, version_id=v1.id, reviewer=admin, message="ok")
        source = factories.make_taxonomy(s, name="city")
        edited = factories.make_mapping(
            s, source=source, target=target, name="city → tiny", edges=(("road", 0),)
        )
        empty = factories.make_mapping(s, source=source, target=target, name="city empty", edges=())
        s.commit()
        return edited.id, empty.id


def _ghosts(text: str) -> list[str]:
    return re.findall(r'data-suggestion="([^"]+)"', unescape(text))


def _accept(browser, mapping_id: int, base: int, key: str):  # type: ignore[no-untyped-def]
    data = {"key": key, "base_version": base, "view": "rows"}
    return browser.post(f"/mappings/{mapping_id}/suggestions/accept", data, htmx=True)


def _version_message(session_factory: sessionmaker[Session], mapping_id: int) -> tuple[int, str]:
    with session_factory() as s:
        head = mapping_service.current_version(s, mapping_id)
        return head.number, head.message


class TestGhostChips:
    def test_editor_sees_ghost_chips_with_score_and_evidence_tooltip(self, login, mappings) -> None:
        edited, _ = mappings
        text = unescape(login("editor").get(f"/mappings/{edited}").text)
        ghosts = _ghosts(text)
        assert "0:sidewalk" in ghosts and "2:vegetation" in ghosts and "3:sky" in ghosts
        assert "0:road" not in ghosts  # already an edge: no ghost
        chip = re.search(
            r'<span class="ghost-chip" data-suggestion="0:sidewalk".*?</span>\n</span>', text, re.S
        )
        assert chip, text
        body = chip.group(0)
        assert 'aria-describedby="ev-2-0"' in body and 'role="tooltip" id="ev-2-0"' in body
        assert "mapped to `drivable` in 1 of 1 other approved mapping" in body
        assert "/suggestions/accept" in body and "data-reject" in body
        assert 'id="suggestion-bar"' in text

    def test_viewer_sees_ghost_chips_read_only(self, login, mappings) -> None:
        edited, _ = mappings
        text = login("viewer").get(f"/mappings/{edited}").text
        assert "0:sidewalk" in _ghosts(text)
        assert "/suggestions/accept" not in text and "data-reject" not in text
        assert 'id="suggestion-bar"' not in text

    def test_matrix_view_has_no_ghosts(self, login, mappings) -> None:
        edited, _ = mappings
        assert _ghosts(login("editor").get(f"/mappings/{edited}?view=matrix").text) == []


class TestAcceptOne:
    def test_accept_is_an_ordinary_edit_with_its_own_message(self, login, mappings, session_factory) -> None:
        edited, _ = mappings
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{edited}").text)
        r = _accept(ed, edited, base, "0:sidewalk")
        assert r.status_code == 200, r.text
        text = unescape(r.text)
        assert "Accepted suggestion ‘sidewalk’ → 0 drivable · saved as version 2" in text
        assert '<tr id="src-row-2" data-source="sidewalk"' in text and 'id="editor-state"' in text
        assert "0:sidewalk" not in _ghosts(text)  # the row now has the edge as a real chip
        assert _version_message(session_factory, edited) == (2, "accepted suggestion: 'sidewalk' → drivable")

    def test_stale_base_answers_409_with_the_conflict_panel(self, login, mappings, session_factory) -> None:
        edited, _ = mappings
        alice, bob = login("editor", "alice"), login("editor", "bob")
        base = base_version_of(alice.get(f"/mappings/{edited}").text)
        assert _accept(bob, edited, base, "3:sky").status_code == 200
        r = _accept(alice, edited, base, "0:sidewalk")
        assert r.status_code == 409
        assert r.headers["HX-Retarget"] == "#conflict-panel"
        assert "Someone else changed this mapping" in unescape(r.text)
        assert _version_message(session_factory, edited)[0] == 2  # alice's accept was not saved

    def test_viewer_cannot_accept_or_reject(self, login, mappings) -> None:
        edited, _ = mappings
        viewer = login("viewer")
        base = base_version_of(viewer.get(f"/mappings/{edited}").text)
        assert _accept(viewer, edited, base, "0:sidewalk").status_code == 403
        r = viewer.post(f"/mappings/{edited}/suggestions/reject", {"key": "0:sidewalk"}, htmx=True)
        assert r.status_code == 403

    @pytest.mark.parametrize("key", ["sidewalk", "9:sidewalk", "0:nope", "x:road"])
    def test_bad_key_is_refused_without_a_version(self, login, mappings, session_factory, key: str) -> None:
        edited, _ = mappings
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{edited}").text)
        r = _accept(ed, edited, base, key)
        assert r.status_code == 422 and r.headers["HX-Retarget"] == "#toasts"
        assert _version_message(session_factory, edited)[0] == 1


class TestReject:
    def test_reject_is_remembered_and_undo_brings_it_back(self, login, mappings, session_factory) -> None:
        edited, _ = mappings
        ed = login("editor")
        r = ed.post(f"/mappings/{edited}/suggestions/reject", {"key": "3:sky", "view": "rows"}, htmx=True)
        assert r.status_code == 200, r.text
        text = unescape(r.text)
        assert "Rejected suggestion ‘sky’ → 3 sky" in text and "/suggestions/unreject" in text
        assert '<tr id="src-row-5" data-source="sky"' in text and "3:sky" not in _ghosts(text)
        assert "3:sky" not in _ghosts(ed.get(f"/mappings/{edited}").text)  # remembered
        assert _version_message(session_factory, edited)[0] == 1  # no version
        with session_factory() as s:
            assert ("sky", 3) not in {
                (n, x.target)
                for n, xs in suggestion_service.suggest_for_mapping(s, edited).labels.items()
                for x in xs
            }
        r = ed.post(f"/mappings/{edited}/suggestions/unreject", {"key": "3:sky"}, htmx=True)
        assert r.status_code == 200 and "3:sky" in _ghosts(r.text)
        assert "3:sky" in _ghosts(ed.get(f"/mappings/{edited}").text)


class TestAcceptAll:
    def test_preview_lists_the_edges_and_confirm_saves_one_version(
        self, login, mappings, session_factory
    ) -> None:
        edited, _ = mappings
        ed = login("editor")
        page = ed.get(f"/mappings/{edited}").text
        base = base_version_of(page)
        preview = ed.get(
            f"/mappings/{edited}/suggestions/accept-all?min_score=0.55", headers={"HX-Request": "true"}
        )
        assert preview.status_code == 200
        text = unescape(preview.text)
        keys = re.findall(r'name="keys" value="([^"]+)"', text)
        # unmapped labels of the approved mapping count as void evidence; 'vegetation' → vegetation
        # (a name match, 0.5) is below the threshold
        assert keys == [
            "255:unlabeled",
            "0:sidewalk",
            "1:building",
            "255:vegetation",
            "3:sky",
            "255:license plate",
        ]
        assert "Confirm: add 6 edges" in text and "+ sidewalk → drivable" in text
        assert _version_message(session_factory, edited)[0] == 1  # a preview saves nothing
        r = ed.post(
            f"/mappings/{edited}/suggestions/accept-all",
            {"keys": keys, "min_score": 0.55, "base_version": base},
            htmx=True,
        )
        assert r.status_code == 200, r.text
        assert "Accepted 6 suggestions with score ≥ 0.55 · saved as version 2" in unescape(r.text)
        number, message = _version_message(session_factory, edited)
        assert number == 2
        assert message.startswith(
            "accepted 6 suggestions with score ≥ 0.55: 'unlabeled' → void, 'sidewalk' → drivable"
        )
        assert message.endswith("and 1 more")
        with session_factory() as s:
            edges = mapping_service.version_edges(mapping_service.current_version(s, edited)).edges
        assert edges == {
            ("road", 0),
            ("unlabeled", 255),
            ("sidewalk", 0),
            ("building", 1),
            ("vegetation", 255),
            ("sky", 3),
            ("license plate", 255),
        }

    def test_high_threshold_previews_nothing(self, login, mappings) -> None:
        edited, _ = mappings
        text = login("editor").get(f"/mappings/{edited}/suggestions/accept-all?min_score=1").text
        assert "No suggestion scores 1.00 or more" in text and 'name="keys"' not in text

    def test_stale_confirm_answers_409_with_a_fresh_preview(self, login, mappings, session_factory) -> None:
        edited, _ = mappings
        alice, bob = login("editor", "alice"), login("editor", "bob")
        base = base_version_of(alice.get(f"/mappings/{edited}").text)
        assert _accept(bob, edited, base, "3:sky").status_code == 200
        r = alice.post(
            f"/mappings/{edited}/suggestions/accept-all",
            {"keys": ["0:sidewalk", "3:sky"], "min_score": 0.55, "base_version": base},
            htmx=True,
        )
        assert r.status_code == 409 and r.headers["HX-Retarget"] == "#suggestion-panel"
        text = unescape(r.text)
        assert "Not saved: version 2 was saved in the meantime" in text
        fresh = re.findall(r'name="keys" value="([^"]+)"', text)
        assert "3:sky" not in fresh and "0:sidewalk" in fresh  # bob accepted sky
        assert base_version_of(text) != base
        assert _version_message(session_factory, edited)[0] == 2

    def test_viewer_gets_403(self, login, mappings) -> None:
        edited, _ = mappings
        assert login("viewer").get(f"/mappings/{edited}/suggestions/accept-all").status_code == 403


class TestDraft:
    def test_draft_builds_a_complete_first_version(self, login, mappings, session_factory) -> None:
        _, empty = mappings
        ed = login("editor")
        page = ed.get(f"/mappings/{empty}").text
        assert "Draft from evidence" in page
        base = base_version_of(page)
        preview = unescape(ed.get(f"/mappings/{empty}/suggestions/draft").text)
        keys = re.findall(r'name="keys" value="([^"]+)"', preview)
        assert len(keys) == 7  # every source label
        assert "0:road" in keys and "255:license plate" in keys
        r = ed.post(
            f"/mappings/{empty}/suggestions/draft",
            {"keys": keys, "min_score": 0.3, "base_version": base},
            htmx=True,
        )
        assert r.status_code == 200, r.text
        assert "Drafted from evidence · saved as version 2" in unescape(r.text)
        number, message = _version_message(session_factory, empty)
        assert number == 2 and message.startswith("Draft from evidence: the top suggestion of")
        with session_factory() as s:
            edges = mapping_service.version_edges(mapping_service.current_version(s, empty))
        assert set(edges.source_names) == {
            "unlabeled",
            "road",
            "sidewalk",
            "building",
            "vegetation",
            "sky",
            "license plate",
        }
        assert "Draft from evidence</button>" not in ed.get(f"/mappings/{empty}").text

    def test_draft_of_a_mapping_with_edges_is_refused(self, login, mappings, session_factory) -> None:
        edited, _ = mappings
        ed = login("editor")
        base = base_version_of(ed.get(f"/mappings/{edited}").text)
        preview = unescape(ed.get(f"/mappings/{edited}/suggestions/draft").text)
        assert "this one already has 1 edges" in preview and 'name="keys"' not in preview
        r = ed.post(
            f"/mappings/{edited}/suggestions/draft",
            {"keys": ["3:sky"], "min_score": 0.3, "base_version": base},
            htmx=True,
        )
        assert r.status_code == 409 and "for an empty mapping" in unescape(r.text)
        assert _version_message(session_factory, edited)[0] == 1

    def test_stale_draft_answers_409(self, login, mappings, session_factory) -> None:
        _, empty = mappings
        alice, bob = login("editor", "alice"), login("editor", "bob")
        base = base_version_of(alice.get(f"/mappings/{empty}").text)
        assert _accept(bob, empty, base, "3:sky").status_code == 200
        r = alice.post(
            f"/mappings/{empty}/suggestions/draft",
            {"keys": ["0:road"], "min_score": 0.3, "base_version": base},
            htmx=True,
        )
        assert r.status_code == 409 and r.headers["HX-Retarget"] == "#suggestion-panel"
        assert "already has 1 edges" in unescape(r.text)
        assert _version_message(session_factory, empty)[0] == 2


class TestThresholds:
    def test_the_bar_shows_both_thresholds_with_their_defaults(self, login, mappings) -> None:
        _, empty = mappings
        page = unescape(login("editor").get(f"/mappings/{empty}").text)
        assert re.search(
            r'id="accept-min" type="number" name="min_score" min="0" max="1" step="any" value="0.5"', page
        )
        assert re.search(
            r'id="draft-min" type="number" name="min_score" min="0" max="1" step="any" value="0.3"', page
        )
        assert "Draft: best suggestion if score ≥" in page

    def test_a_higher_draft_threshold_leaves_more_labels_void(self, login, mappings) -> None:
        _, empty = mappings
        ed = login("editor")

        def voids(min_score: str) -> int:
            text = unescape(ed.get(f"/mappings/{empty}/suggestions/draft?min_score={min_score}").text)
            assert len(re.findall(r'name="keys" value="', text)) == 7  # every label, always
            assert f'name="min_score" value="{float(min_score)}"' in text  # posted back by Confirm
            return len(re.findall(r'name="keys" value="255:', text))

        assert voids("0.3") < voids("0.9") == 7

    @pytest.mark.parametrize("value", ["-0.1", "1.5", "abc", "nan"])
    def test_a_bad_threshold_is_a_4xx_naming_the_field(self, login, mappings, value: str) -> None:
        edited, empty = mappings
        ed = login("editor")
        for url in (f"/mappings/{empty}/suggestions/draft", f"/mappings/{edited}/suggestions/accept-all"):
            r = ed.get(f"{url}?min_score={value}", headers={"HX-Request": "true"})
            assert r.status_code == 422, (url, value, r.status_code)
            assert "min_score" in unescape(r.text)
