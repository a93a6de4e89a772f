"""Approval with acknowledged findings, and one-click "apply suggestion" fixes (services, both DBs)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.orm import Session

from app.db.models import MappingVersion
from app.domain.errors import Conflict, InvalidInput
from app.services import mappings as service
from app.services.mapping_files import apply_suggestion
from tests import factories

# 'skyy' is a typo of 'sky'; 'roadsidewalk' two names glued by a missing comma; 'tree' has no
# close label: three harmless errors (their edges were never stored)
TEXT = (
    "trainId,name\n0,drivable,roadsidewalk\n1,obstacle,building\n2,vegetation,tree\n"
    "3,sky,skyy\n255,void,unlabeled\n"
)


def _imported(session: Session) -> MappingVersion:
    source = factories.make_taxonomy(session)
    result = service.import_master_labels(session, text=TEXT, source_taxonomy_id=source.id)
    return result.version


def _unknown(session: Session, version: MappingVersion) -> dict[str, str]:
    report = service.validation_report(session, version.id)
    return {f.source_name or "": f.key for f in report.by_code("unknown_source_name")}


def test_harmless_errors_are_approved_only_with_a_recorded_acknowledgement(session: Session) -> None:
    reviewer, _ = factories.make_user(session, role="reviewer")
    version = _imported(session)
    service.submit_for_review(session, version_id=version.id, author=None)
    keys = _unknown(session, version)
    assert set(keys) == {"roadsidewalk", "tree", "skyy"}
    with pytest.raises(Conflict) as info:
        service.approve(session, version_id=version.id, reviewer=reviewer, acknowledged=[keys["skyy"]])
    assert info.value.field == "acknowledged"
    assert sorted(info.value.details["acknowledge"]) == sorted([keys["roadsidewalk"], keys["tree"]])
    assert version.status == "in_review"
    approved = service.approve(
        session, version_id=version.id, reviewer=reviewer, message="typos known", acknowledged=keys.values()
    )
    assert approved.status == "approved"
    comments, _ = service.list_comments(session, version.id)
    (record,) = [c for c in comments if c.kind == "approve"]
    assert record.body.startswith("typos known\n\nAcknowledged findings:\n- ")
    assert all(f"'{name}'" in record.body for name in keys)


def test_an_error_that_makes_the_prior_wrong_cannot_be_acknowledged(session: Session) -> None:
    reviewer, _ = factories.make_user(session, role="reviewer")
    mapping = factories.make_mapping(session)
    version = service.current_version(session, mapping.id)
    # a version stored before edges were checked: an edge to class 9, which the target lacks
    edges = json.loads(version.edges_json)
    version.edges_json = json.dumps([*edges, ["vegetation", 9]])
    session.flush()
    report = service.validation_report(session, version.id)
    assert [f.target_id for f in report.blocking] == [9]
    service.submit_for_review(session, version_id=version.id, author=None)
    keys = [f.key for f in report.findings]
    with pytest.raises(Conflict, match="make the prior wrong"):
        service.approve(session, version_id=version.id, reviewer=reviewer, acknowledged=keys)
    assert version.status == "in_review"


def test_apply_suggestion_moves_the_targets_to_the_suggested_labels(session: Session) -> None:
    version = _imported(session)
    keys = _unknown(session, version)
    fixed = apply_suggestion(session, version_id=version.id, finding_key=keys["skyy"])
    assert fixed.number == version.number + 1
    assert service.version_edges(fixed).targets_of("sky") == (3,)
    glued = apply_suggestion(session, version_id=fixed.id, finding_key=keys["roadsidewalk"])
    edges = service.version_edges(glued)
    assert edges.targets_of("road") == (0,) and edges.targets_of("sidewalk") == (0,)
    left = _unknown(session, glued)
    assert set(left) == {"tree"}  # the other finding is carried over, still with no suggestion
    with pytest.raises(InvalidInput, match="no suggestion"):
        apply_suggestion(session, version_id=glued.id, finding_key=left["tree"])
    with pytest.raises(Conflict):  # not the head any more
        apply_suggestion(session, version_id=version.id, finding_key=keys["skyy"])
