"""Job input checks and choices (services layer): which mapping versions fit a model and a dataset,
and every problem of a submission found at once.

A mapping fits a job when its *target* taxonomy is the one the model predicts and its *source*
taxonomy is the one the dataset is labelled in; only approved versions are offered (reviewers also
see each unapproved head, usable with a recorded override). :func:`mapping_choices` returns the
versions that fit and says why the other mappings are hidden; :func:`check_inputs` checks a
submission field by field and returns every refusal (each naming its field, and the taxonomies,
models and datasets involved by name), so a form can show them all next to their fields at once;
:func:`raise_problems` raises them together for the API.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session, object_session

from app.config import Settings
from app.db import repositories_registry as repo
from app.db.models import Mapping, MappingVersion
from app.db.models_registry import Dataset, Model
from app.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from app.services import datasets as dataset_service
from app.services import mappings as mapping_service
from app.services import models as model_service
from app.services import taxonomies as taxonomy_service

T = TypeVar("T")
MAX_MAPPINGS = 500
# Why a mapping is not offered, in the order a mapping is tested (each hidden mapping counts once).
HIDDEN_REASONS = ("target", "source", "unapproved")
_REASON_TEXT = {  # (one mapping, several mappings)
    "target": ("targets another taxonomy than this model's", "target another taxonomy than this model's"),
    "source": (
        "maps from another taxonomy than this dataset's",
        "map from another taxonomy than this dataset's",
    ),
    "unapproved": ("has no approved version", "have no approved version"),
}


@dataclass(frozen=True, slots=True)
class VersionChoice:
    """One mapping version offered for a job."""

    id: int
    mapping_name: str
    number: int
    status: str
    content_hash: str

    @property
    def approved(self) -> bool:
        return self.status == "approved"


@dataclass(frozen=True, slots=True)
class HiddenMapping:
    """A mapping left out of the choices, with the reason code and a sentence that names names."""

    name: str
    reason: str  # one of HIDDEN_REASONS
    detail: str


@dataclass(frozen=True, slots=True)
class MappingChoices:
    versions: tuple[VersionChoice, ...]
    hidden: tuple[HiddenMapping, ...]
    source_name: str | None = None  # the dataset's taxonomy ('name', quoted), when one is chosen
    target_name: str | None = None  # the model's taxonomy, when one is chosen

    @property
    def hidden_summary(self) -> str:
        """``"3 mappings hidden: 2 target another taxonomy than this model's, 1 has no approved version"``."""
        if not self.hidden:
            return ""
        counts = Counter(h.reason for h in self.hidden)
        parts = [f"{counts[r]} {_REASON_TEXT[r][counts[r] != 1]}" for r in HIDDEN_REASONS if counts[r]]
        n = len(self.hidden)
        return f"{n} mapping{'s' if n != 1 else ''} hidden: {', '.join(parts)}"


def taxonomy_name(session: Session, taxonomy_id: int) -> str:
    """``'cityscapes'`` (quoted, for messages); ``taxonomy 7`` when it no longer exists."""
    try:
        return repr(taxonomy_service.get_taxonomy(session, taxonomy_id).name)
    except NotFound:
        return f"taxonomy {taxonomy_id}"


def _mismatch(
    session: Session, mapping: Mapping, *, model: Model | None, dataset: Dataset | None
) -> DomainError | None:
    if model is not None and mapping.target_taxonomy_id != model.taxonomy_id:
        return InvalidInput(
            f"mapping {mapping.name!r} targets taxonomy "
            f"{taxonomy_name(session, mapping.target_taxonomy_id)}, but model {model.name!r} "
            f"predicts taxonomy {taxonomy_name(session, model.taxonomy_id)}",
            field="model_id",
            details={
                "mapping_target_taxonomy_id": mapping.target_taxonomy_id,
                "model_taxonomy_id": model.taxonomy_id,
            },
        )
    if dataset is not None and mapping.source_taxonomy_id != dataset.taxonomy_id:
        return InvalidInput(
            f"dataset {dataset.name!r} is labelled in taxonomy "
            f"{taxonomy_name(session, dataset.taxonomy_id)}, but mapping {mapping.name!r} maps from "
            f"taxonomy {taxonomy_name(session, mapping.source_taxonomy_id)}",
            field="dataset_id",
            details={
                "dataset_taxonomy_id": dataset.taxonomy_id,
                "mapping_source_taxonomy_id": mapping.source_taxonomy_id,
            },
        )
    return None


def check_compatible(mapping: Mapping, *, model: Model | None = None, dataset: Dataset | None = None) -> None:
    """Refuse a mapping whose target is not the model's taxonomy or whose source is not the dataset's.

    Shared by job submission and the CLI's database ids (``unilabel pseudo-label --model 3 ...``);
    the taxonomy names come from the session the mapping row belongs to.
    """
    session = object_session(mapping)
    if session is None:  # pragma: no cover - both callers pass rows they just loaded
        raise RuntimeError("check_compatible needs a mapping row attached to a session")
    problem = _mismatch(session, mapping, model=model, dataset=dataset)
    if problem is not None:
        raise problem


def _hidden(
    session: Session, mapping: Mapping, model: Model | None, dataset: Dataset | None
) -> HiddenMapping | None:
    if model is not None and mapping.target_taxonomy_id != model.taxonomy_id:
        detail = (
            f"targets {taxonomy_name(session, mapping.target_taxonomy_id)}; model {model.name!r} predicts "
            f"{taxonomy_name(session, model.taxonomy_id)}"
        )
        return HiddenMapping(mapping.name, "target", detail)
    if dataset is not None and mapping.source_taxonomy_id != dataset.taxonomy_id:
        detail = (
            f"maps from {taxonomy_name(session, mapping.source_taxonomy_id)}; dataset {dataset.name!r} is "
            f"labelled in {taxonomy_name(session, dataset.taxonomy_id)}"
        )
        return HiddenMapping(mapping.name, "source", detail)
    return None


def _find(load: Callable[[Session, int], T], session: Session, row_id: int | None) -> T | None:
    if row_id is None:
        return None
    try:
        return load(session, row_id)
    except NotFound:
        return None


def mapping_choices(
    session: Session, *, model_id: int | None, dataset_id: int | None, with_unapproved: bool
) -> MappingChoices:
    """The versions that fit the model and the dataset (either may be unset: no filter), newest
    first per mapping, and the mappings left out with their reason."""
    model = _find(model_service.get_model, session, model_id)
    dataset = _find(dataset_service.get_dataset, session, dataset_id)
    rows, _ = mapping_service.list_mappings(session, limit=MAX_MAPPINGS)
    heads = mapping_service.heads_of(session, rows)
    versions: list[VersionChoice] = []
    hidden: list[HiddenMapping] = []
    for m in rows:
        reason = _hidden(session, m, model, dataset)
        if reason is not None:
            hidden.append(reason)
            continue
        approved, _ = mapping_service.list_versions(session, m.id, limit=20, status="approved")
        found = list(approved)
        head = heads.get(m.id)
        if with_unapproved and head is not None and head.status != "approved":
            found.insert(0, head)
        if not found:
            detail = f"latest version is {head.status.replace('_', ' ')}" if head else "it has no version"
            hidden.append(HiddenMapping(m.name, "unapproved", detail))
            continue
        versions.extend(VersionChoice(v.id, m.name, v.number, v.status, v.content_hash) for v in found)
    return MappingChoices(
        tuple(versions),
        tuple(hidden),
        source_name=taxonomy_name(session, dataset.taxonomy_id) if dataset is not None else None,
        target_name=taxonomy_name(session, model.taxonomy_id) if model is not None else None,
    )


# --- submission checks ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobInputs:
    """What a pseudo-label or evaluation submission names (None: not given or not readable)."""

    model_id: int | None = None
    dataset_id: int | None = None
    mapping_version_id: int | None = None
    split: str | None = None
    allow_unapproved: bool = False
    override_reason: str | None = None
    output_name: str | None = None


@dataclass
class CheckedInputs:
    """The rows a submission names and every problem found (empty: it may be submitted)."""

    problems: list[DomainError]
    model: Model | None = None
    dataset: Dataset | None = None
    version: MappingVersion | None = None
    override: str | None = None  # the recorded reason when an unapproved version is used


def _try(problems: list[DomainError], field: str, load: Callable[[], T]) -> T | None:
    """``load()``, or None with its refusal (re-pointed at ``field``) added to ``problems``."""
    try:
        return load()
    except DomainError as exc:
        problems.append(type(exc)(exc.message, field=field, details=exc.details))
        return None


def _check_version(session: Session, out: CheckedInputs, inputs: JobInputs, mapping: Mapping) -> None:
    version = out.version
    assert version is not None
    if version.status == "approved":
        return
    if not inputs.allow_unapproved:
        out.problems.append(
            InvalidInput(
                f"version {version.number} of mapping {mapping.name!r} is "
                f"{version.status.replace('_', ' ')}, not approved; approve it, or use it with an "
                "override and a reason",
                field="mapping_version_id",
                details={"status": version.status},
            )
        )
        return
    reason = (inputs.override_reason or "").strip()
    if not reason:
        out.problems.append(
            InvalidInput(
                "give a reason for using an unapproved version (it is recorded)", field="override_reason"
            )
        )
    out.override = reason or None


def check_output_name(session: Session, settings: Settings, name: str) -> DomainError | None:
    """A refusal when ``outputs/<name>`` exists (not empty), belongs to a job, or cannot be created."""
    out = settings.data_dir / "outputs" / name
    if out.exists() and any(out.iterdir()) or repo.job_exists_with_output(session, str(out)):
        return Conflict(
            f"an output named {out.name!r} already exists; choose another output name", field="output_name"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return InvalidInput(f"cannot create {out.parent}: {exc}", field="output_name")
    if not os.access(out.parent, os.W_OK):
        return InvalidInput(f"output folder {out.parent} is not writable", field="output_name")
    return None


def check_inputs(session: Session, inputs: JobInputs, *, settings: Settings) -> CheckedInputs:
    """Check every named input independently; each problem names its field and things by name."""
    out = CheckedInputs(problems=[])
    p = out.problems
    model_id, dataset_id, version_id = inputs.model_id, inputs.dataset_id, inputs.mapping_version_id
    if model_id is not None:
        out.model = _try(p, "model_id", lambda: model_service.get_model(session, model_id))
        if (model := out.model) is not None:  # its files are there; a pickle needs trust
            _try(p, "model_id", lambda: model_service.usable_spec(session, model))
    if dataset_id is not None:
        out.dataset = _try(p, "dataset_id", lambda: dataset_service.get_dataset(session, dataset_id))
        splits = json.loads(out.dataset.splits_json or "[]") if out.dataset is not None else []
        if out.dataset is not None and inputs.split is not None and inputs.split not in splits:
            known = f" (it has {', '.join(map(repr, splits))})" if splits else ""
            p.append(
                InvalidInput(
                    f"dataset {out.dataset.name!r} has no split {inputs.split!r}{known}", field="split"
                )
            )
    if version_id is not None:
        out.version = _try(p, "mapping_version_id", lambda: mapping_service.get_version(session, version_id))
        if out.version is not None:
            mapping = mapping_service.get_mapping(session, out.version.mapping_id)
            for problem in (
                _mismatch(session, mapping, model=out.model, dataset=None),
                _mismatch(session, mapping, model=None, dataset=out.dataset),
            ):
                if problem is not None:
                    p.append(problem)
            _check_version(session, out, inputs, mapping)
    if inputs.output_name:
        problem = check_output_name(session, settings, inputs.output_name)
        if problem is not None:
            p.append(problem)
    return out


def raise_problems(problems: list[DomainError]) -> None:
    """Raise nothing, the one problem, or an ``InvalidInput`` listing them all (``details.errors``)."""
    if not problems:
        return
    if len(problems) == 1:
        raise problems[0]
    raise InvalidInput(
        f"{len(problems)} problems: " + "; ".join(str(p) for p in problems),
        field=problems[0].field,
        details={"errors": [p.to_dict() for p in problems]},
    )
