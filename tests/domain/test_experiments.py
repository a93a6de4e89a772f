"""The experiment stage graph and planner (pure; issue 12)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.domain.experiments import RunStatus, fingerprint, plan, same_except_mapping, stage_graph


def keys(stages: object) -> list[str]:
    return [s.key for s in stages]  # type: ignore[attr-defined]


def test_graph_with_a_trained_teacher_and_two_rounds() -> None:
    graph = stage_graph(extras=2, evaluations=1, rounds=2, train_teacher=True)
    assert keys(graph) == [
        "teacher", "eval:teacher:0",
        "pl:r1:0", "pl:r1:1", "student:r1", "eval:student:r1:0",
        "pl:r2:0", "pl:r2:1", "student:r2", "eval:student:r2:0",
    ]  # fmt: skip
    needs = {s.key: s.needs for s in graph}
    assert needs["pl:r1:0"] == ("teacher",) and needs["eval:teacher:0"] == ("teacher",)
    assert needs["student:r1"] == ("pl:r1:0", "pl:r1:1")
    assert needs["pl:r2:1"] == ("student:r1",)  # round 2: the student re-labels
    assert needs["eval:student:r2:0"] == ("student:r2",)


def test_plan_readies_stages_whose_needs_succeeded() -> None:
    graph = stage_graph(extras=2, evaluations=1, rounds=1, train_teacher=False)
    first = plan(graph, {})
    assert keys(first.ready) == ["eval:teacher:0", "pl:r1:0", "pl:r1:1"]
    assert first.status == RunStatus.RUNNING
    half = plan(graph, {"eval:teacher:0": "running", "pl:r1:0": "succeeded", "pl:r1:1": "running"})
    assert half.ready == () and half.status == RunStatus.RUNNING
    both = plan(graph, {"eval:teacher:0": "running", "pl:r1:0": "succeeded", "pl:r1:1": "succeeded"})
    assert keys(both.ready) == ["student:r1"]


def test_a_broken_stage_fails_the_run_and_readies_nothing() -> None:
    graph = stage_graph(extras=1, evaluations=1, rounds=1, train_teacher=False)
    result = plan(graph, {"eval:teacher:0": "succeeded", "pl:r1:0": "cancelled"})
    assert result.status == RunStatus.FAILED and result.broken == ("pl:r1:0",) and result.ready == ()


def test_all_succeeded_is_a_succeeded_run() -> None:
    graph = stage_graph(extras=1, evaluations=2, rounds=1, train_teacher=True)
    result = plan(graph, {s.key: "succeeded" for s in graph})
    assert result.status == RunStatus.SUCCEEDED and result.done == result.total == len(graph)


@given(
    extras=st.integers(1, 4),
    evaluations=st.integers(1, 3),
    rounds=st.integers(1, 3),
    teacher=st.booleans(),
    data=st.data(),
)
def test_following_the_plan_always_reaches_every_stage_once(
    extras: int, evaluations: int, rounds: int, teacher: bool, data: st.DataObject
) -> None:
    graph = stage_graph(extras=extras, evaluations=evaluations, rounds=rounds, train_teacher=teacher)
    states: dict[str, str] = {}
    submitted: list[str] = []
    while True:
        step = plan(graph, states)
        if step.status == RunStatus.SUCCEEDED:
            break
        for stage in step.ready:
            submitted.append(stage.key)
            states[stage.key] = "running"
        running = sorted(k for k, v in states.items() if v == "running")
        assert running, "the plan stalled"
        states[data.draw(st.sampled_from(running))] = "succeeded"
    assert sorted(submitted) == sorted(keys(graph))  # each stage exactly once


def test_fingerprint_ignores_names_but_not_inputs() -> None:
    base = {"model_id": 1, "dataset_id": 2, "mapping_version_id": 3, "tta": False}
    named = {**base, "name": "x", "output_name": "y", "queue": "gpu"}
    assert fingerprint("pseudo_label", base) == fingerprint("pseudo_label", named)
    assert fingerprint("pseudo_label", base) != fingerprint("pseudo_label", {**base, "tta": True})
    assert fingerprint("pseudo_label", base) != fingerprint("evaluate", base)
    assert same_except_mapping(base, {**named, "mapping_version_id": 4})
    assert not same_except_mapping(base, {**base, "mapping_version_id": 4, "model_id": 9})
