"""Resolve an experiment spec into pinned inputs (services layer).

:func:`resolve` turns the names or ids of an :class:`ExperimentSpec` into database ids and
content hashes, checking every piece the way a job submission would (a set's dataset is labelled
in its mapping's source taxonomy; every mapping targets the experiment's taxonomy; extras pin an
*approved* version, the newest unless the spec names one; the teacher's classes are the target's).
Every problem is found at once and raised together, each naming the spec field it is about
(``extras.1.mapping``). The result is plain JSON, stored with each run as its ``resolved_json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.db import repositories as mapping_repo
from app.db import repositories_registry as registry
from app.domain.errors import DomainError, InvalidInput, NotFound
from app.schemas.experiments import ExperimentSpec, SetSpec
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import taxonomies as taxonomy_service
from app.services.job_inputs import raise_problems
from app.services.pseudo_label_updates import newest_approved


def _taxonomy(session: Session, ref: int | str, problems: list[DomainError]) -> Any:
    try:
        if isinstance(ref, int):
            return taxonomy_service.get_taxonomy(session, ref)
        return taxonomy_service.get_taxonomy_by_name(session, ref)
    except NotFound:
        problems.append(NotFound(f"target taxonomy {ref!r} does not exist", field="target_taxonomy"))
        return None


def _model(session: Session, ref: int | str | None, where: str, problems: list[DomainError]) -> Any:
    if ref is None:
        return None
    row = (
        registry.get_model(session, ref) if isinstance(ref, int) else registry.get_model_by_name(session, ref)
    )
    if row is None:
        problems.append(NotFound(f"{where}: model {ref!r} is not registered", field=where))
    return row


def _mapping(session: Session, ref: int | str) -> Any:
    if isinstance(ref, int):
        return mapping_repo.get_mapping(session, ref)
    try:
        return mapping_service.get_mapping_by_name(session, ref)
    except NotFound:
        return None


def _version(session: Session, mapping: Any, spec: SetSpec, where: str) -> Any:
    if spec.version is None:
        version = newest_approved(session, mapping.id)
        if version is None:
            raise InvalidInput(
                f"{where}: mapping {mapping.name!r} has no approved version; approve one first",
                field=f"{where}.mapping",
            )
        return version
    try:
        version = mapping_service.get_version_by_number(session, mapping.id, spec.version)
    except NotFound as exc:
        raise NotFound(
            f"{where}: mapping {mapping.name!r} has no version {spec.version}", field=f"{where}.version"
        ) from exc
    if version.status != "approved":
        raise InvalidInput(
            f"{where}: version {version.number} of mapping {mapping.name!r} is {version.status}, not "
            "approved; an experiment pins approved versions only",
            field=f"{where}.version",
        )
    return version


def _set(session: Session, spec: SetSpec, where: str, target_id: int | None) -> dict[str, Any]:
    """One set's pinned ids; raises the first problem found with it."""
    ref = spec.dataset
    dataset = (
        registry.get_dataset(session, ref)
        if isinstance(ref, int)
        else registry.get_dataset_by_name(session, ref)
    )
    if dataset is None:
        raise NotFound(f"{where}: dataset {ref!r} is not registered", field=f"{where}.dataset")
    mapping = _mapping(session, spec.mapping)
    if mapping is None:
        raise NotFound(f"{where}: mapping {spec.mapping!r} does not exist", field=f"{where}.mapping")
    if mapping.source_taxonomy_id != dataset.taxonomy_id:
        raise InvalidInput(
            f"{where}: mapping {mapping.name!r} maps from another taxonomy than dataset "
            f"{dataset.name!r} is labelled in",
            field=f"{where}.mapping",
        )
    if target_id is not None and mapping.target_taxonomy_id != target_id:
        raise InvalidInput(
            f"{where}: mapping {mapping.name!r} does not map to the experiment's target taxonomy",
            field=f"{where}.mapping",
        )
    if spec.split is not None and spec.split not in json.loads(dataset.splits_json or "[]"):
        raise InvalidInput(
            f"{where}: dataset {dataset.name!r} has no split {spec.split!r}", field=f"{where}.split"
        )
    version = _version(session, mapping, spec, where)
    return {
        "files_hash": files_hash(dataset, spec.split),
        "dataset_id": dataset.id,
        "dataset": dataset.name,
        "mapping_id": mapping.id,
        "mapping": mapping.name,
        "mapping_version_id": version.id,
        "version": version.number,
        "mapping_hash": version.content_hash,
        "split": spec.split,
        "weight": spec.weight,
        "name": spec.name or (f"{dataset.name}-{spec.split}" if spec.split else dataset.name),
    }


def files_hash(dataset: Any, split: str | None) -> str:
    """sha256 of the set's pairs as found now: relative paths, split and byte sizes of each file.

    Cheap (names and ``stat``, no file contents) and enough to tell two sets apart or see that a
    set's files changed between runs; recorded in a run's provenance card.
    """
    root = Path(dataset.root)
    digest = hashlib.sha256()
    for pair in sorted(dataset_service.pair_dataset(dataset, split=split).pairs, key=lambda p: p.image):
        sizes = [_size(root / name) for name in (pair.image, pair.label) if name]
        digest.update(json.dumps([pair.image, pair.label, pair.split, *sizes]).encode("utf-8") + b"\n")
    return digest.hexdigest()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _sets(
    session: Session, specs: list[SetSpec], field: str, target_id: int | None, problems: list[DomainError]
) -> list[dict[str, Any]]:
    out = []
    for i, spec in enumerate(specs):
        try:
            out.append(_set(session, spec, f"{field}.{i}", target_id))
        except DomainError as exc:
            problems.append(exc)
    names = [s["name"] for s in out]
    if len(set(names)) != len(names):
        problems.append(InvalidInput(f"{field}: two sets have the same name; give them `name`s", field=field))
    return out


def _model_pin(model: Any, target_id: int | None, where: str, problems: list[DomainError]) -> dict[str, Any]:
    if model is None:
        return {"model_id": None}
    if target_id is not None and model.taxonomy_id != target_id:
        problems.append(
            InvalidInput(
                f"{where}: model {model.name!r} predicts another taxonomy than the target", field=where
            )
        )
    return {"model_id": model.id, "model": model.name, "checksum": model.checksum}


def resolve(session: Session, spec: ExperimentSpec) -> dict[str, Any]:
    """The spec's pinned inputs as JSON; every problem is raised at once (``details.errors``)."""
    problems: list[DomainError] = []
    taxonomy = _taxonomy(session, spec.target_taxonomy, problems)
    target_id = taxonomy.id if taxonomy is not None else None
    if taxonomy is not None and not taxonomy_service.load_taxonomy(session, taxonomy.id).is_class_list():
        problems.append(
            InvalidInput(
                f"target taxonomy {taxonomy.name!r} is not a class list 0..N-1", field="target_taxonomy"
            )
        )
    teacher = _model_pin(
        _model(session, spec.teacher.model, "teacher.model", problems), target_id, "teacher.model", problems
    )
    teacher_start = _model(session, spec.teacher.start_model, "teacher.start_model", problems)
    student_start = _model(session, spec.student.start_model, "student.start_model", problems)
    resolved = {
        "target_taxonomy_id": target_id,
        "target_taxonomy": taxonomy.name if taxonomy is not None else None,
        "teacher": {
            **teacher,
            "train": spec.teacher.train.model_dump(mode="json") if spec.teacher.train else None,
            "architecture": spec.teacher.architecture,
            "start_model_id": teacher_start.id if teacher_start is not None else None,
        },
        "sources": _sets(session, spec.sources, "sources", target_id, problems),
        "extras": _sets(session, spec.extras, "extras", target_id, problems),
        "evaluation": _sets(session, spec.evaluation, "evaluation", target_id, problems),
        "student": {
            "training": spec.student.training.model_dump(mode="json"),
            "start_model_id": student_start.id if student_start is not None else None,
            "start_from_teacher": spec.student.start_from_teacher,
            "architecture": spec.student.architecture,
        },
        "pseudo_label": spec.pseudo_label.model_dump(mode="json", exclude={"tta_whole"}),
        "rounds": spec.rounds,
        "queue": spec.queue,
        "device": spec.device,
    }
    problems += _overlaps(resolved)
    raise_problems(problems)
    return resolved


def _overlaps(resolved: dict[str, Any]) -> list[DomainError]:
    """An evaluation set may not share images with a training set (the scores would be inflated)."""
    found: list[DomainError] = []
    for j, scored in enumerate(resolved["evaluation"]):
        for field in ("sources", "extras"):
            for i, trained in enumerate(resolved[field]):
                if trained["dataset_id"] != scored["dataset_id"]:
                    continue
                if trained["split"] is None or scored["split"] is None or trained["split"] == scored["split"]:
                    found.append(
                        InvalidInput(
                            f"evaluation.{j} ({scored['name']}) shares images with {field}.{i} "
                            f"({trained['name']}): give both a split (e.g. train and val)",
                            field=f"evaluation.{j}.split",
                        )
                    )
    return found
