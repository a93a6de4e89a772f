"""How far a survey's teacher can be trusted (app.domain.teacher_trust): the weak-teacher and
weak-class thresholds, void skipped, a class never evaluated is unknown, the sentences."""

from __future__ import annotations

from app.domain.audit import Finding, FindingKind
from app.domain.mapping import VOID
from app.domain.teacher_trust import WEAK_CLASS_IOU, WEAK_TEACHER_MIOU, TeacherQuality, caveats, summary

NAMES = {0: "road", 1: "car", 2: "tree", 3: "sky"}


def _quality(miou: float | None, ious: dict[int, float | None]) -> TeacherQuality:
    return TeacherQuality("t", 7, "city", miou, ious)


def test_weak_is_strictly_under_the_threshold_and_unknown_without_a_miou() -> None:
    assert _quality(WEAK_TEACHER_MIOU - 1e-9, {}).weak
    assert not _quality(WEAK_TEACHER_MIOU, {}).weak
    assert not _quality(None, {}).weak


def test_weak_classes_skip_void_and_repeats_and_name_unknown_classes() -> None:
    q = _quality(0.6, {0: 0.9, 1: WEAK_CLASS_IOU - 0.01, 2: None, 3: WEAK_CLASS_IOU})
    assert q.weak_classes([VOID, 1, 1, 0, 2, 3, 9]) == ((1, WEAK_CLASS_IOU - 0.01), (2, None), (9, None))


def test_caveats_cover_subject_current_and_proposed_targets() -> None:
    f = Finding(FindingKind.CONTRADICTED, "lane", current=(0,), proposed=(0, 2), target=2, message="m")
    q = _quality(0.6, {0: 0.1, 1: 0.9, 2: None, 3: 0.9})
    assert caveats(q, f, NAMES) == (
        "the teacher's IoU is 0.10 on `road` (evaluation job 7): this may be its blind spot",
        "`tree` is not in evaluation job 7's ground truth: the teacher's skill on it is unknown",
    )
    both = Finding(FindingKind.UNUSED, "lane", current=(0, 1, 2, 3), proposed=(0,), target=3, message="m")
    q2 = _quality(0.6, {0: 0.1, 1: 0.2, 2: None, 3: None})
    assert caveats(q2, both, NAMES) == (
        "the teacher's IoU is 0.10 on `road`, 0.20 on `car` (evaluation job 7): these may be its blind spots",
        "`sky`, `tree` are not in evaluation job 7's ground truth: the teacher's skill on them is unknown",
    )
    assert caveats(None, f, NAMES) == ()
    void = Finding(FindingKind.VOID_CONFIDENT, "x", current=(VOID,), proposed=(3,), target=3, message="m")
    assert caveats(q, void, NAMES) == ()


def test_summary_sentences() -> None:
    assert summary(None, "m").startswith("Teacher `m` has no evaluation in the target taxonomy")
    assert summary(_quality(0.61, {}), "m") == "Teacher `t`: mIoU 0.61 on `city` (evaluation job 7)"
    weak = summary(_quality(0.2, {}), "m")
    assert weak.startswith("Teacher `t`: mIoU 0.20 on `city` (evaluation job 7); under 0.50")
    assert "blind spots" in weak


def test_class_note_for_one_class() -> None:
    from app.domain.teacher_trust import class_note

    q = _quality(0.6, {0: 0.1, 1: 0.9, 2: None})
    assert (
        class_note(q, 0, "road")
        == "the teacher's IoU on `road` is 0.10 (evaluation job 7): maybe its blind spot"
    )
    assert (
        class_note(q, 2, "tree")
        == "the teacher was not evaluated on `tree` (evaluation job 7): its skill there is unknown"
    )
    assert class_note(q, 1, "car") is None and class_note(None, 0, "road") is None
    assert class_note(q, VOID, "void") is None
