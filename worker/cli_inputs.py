"""What ``unilabel pseudo-label`` and ``evaluate`` run on, from files or database ids (worker layer).

How a value is read (one rule, no guessing from the file system):

* ``--model`` and ``--mapping``: a value of digits only is the id of a registered row; anything
  else is a path (for ``--model`` also a cached Hugging Face id). Write a file named ``7`` as ``./7``.
* ``--mapping 7`` is mapping 7 at its newest *approved* version; ``--mapping 7@2`` pins its version
  number 2 (a version that is not approved is used with a warning).
* ``--dataset ID`` (ids only) supplies root, pairing, label encoding and source taxonomy, so it
  cannot be mixed with ``--root/--images/--labels/--list/--label-encoding/--source-taxonomy``.

Ids are resolved by the job system's own loaders (:mod:`worker.runtime`, :mod:`app.services`) on the
database of ``UNILABEL_DATABASE_URL``; runs given only files never open it. Every refusal is a
one-line ``error:`` message and exit code 2. torch is imported inside functions only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from app.domain.pairing import Pair, PairProblem
    from app.domain.priors import CompiledPriors
    from app.domain.taxonomy import Taxonomy
    from worker.ml.modeling import Normalization

_MAPPING_REF = re.compile(r"(\d+)(?:@(\d+))?")
_FILE_FLAGS = {
    "root": "--root",
    "images": "--images",
    "labels": "--labels",
    "list_file": "--list",
    "label_encoding": "--label-encoding",
    "source_taxonomy": "--source-taxonomy",
}


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def warn(message: str) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


def model_id(value: str) -> int | None:
    """The registered model id ``value`` names (digits only), or None for a path / HF id."""
    return int(value) if value.isascii() and value.isdigit() else None


def mapping_ref(value: str) -> tuple[int, int | None] | None:
    """``"7"`` -> (7, None), ``"7@2"`` -> (7, 2); None for a file path."""
    match = _MAPPING_REF.fullmatch(value) if value.isascii() else None
    if match is None:
        return None
    return int(match[1]), int(match[2]) if match[2] else None


@dataclass(frozen=True, slots=True)
class FileData:
    """The file options of a run; None means "not given"."""

    root: Path | None = None
    images: str | None = None
    labels: str | None = None
    list_file: Path | None = None
    label_encoding: str | None = None
    source_taxonomy: Path | None = None

    def given(self) -> list[str]:
        return [_FILE_FLAGS[f.name] for f in fields(self) if getattr(self, f.name) is not None]


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What the command line asked for; ``want_labels`` is False for pseudo-labels without priors."""

    model: str
    files: FileData
    dataset: int | None = None
    split: str | None = None
    mapping: str | None = None
    want_labels: bool = True
    trust_pickle: bool = False
    normalization: Normalization | None = None


@dataclass(frozen=True, slots=True)
class RunInputs:
    """Everything a run needs, whichever way each part was named."""

    root: Path
    label_encoding: str
    pairs: list[Pair]
    source: Taxonomy | None
    target: Taxonomy | None
    priors: CompiledPriors | None
    mapping_hash: str | None
    model_spec: str
    trust_pickle: bool
    normalization: Normalization | None


@dataclass(frozen=True, slots=True)
class _Data:
    root: Path
    label_encoding: str
    pairs: list[Pair]
    source: Taxonomy | None
    row: Any = None  # the registered Dataset row


@dataclass(frozen=True, slots=True)
class _Mapping:
    source: Taxonomy | None
    target: Taxonomy | None
    priors: CompiledPriors | None
    mapping_hash: str | None
    row: Any = None  # the registered Mapping row


def _require_sqlite_file(url: str) -> None:
    """Refuse a missing SQLite file: connecting would create an empty one and fail on its tables."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() == "sqlite" and path and path != ":memory:" and not Path(path).is_file():
        raise fail(
            f"no database at {path}: set UNILABEL_DATABASE_URL, or run `unilabel db upgrade` and "
            "register models, datasets and mappings first"
        )


class _Registry:
    """A read-only session on the registry database, opened on first use."""

    def __init__(self) -> None:
        self._engine: Engine | None = None
        self._session: Session | None = None

    def session(self) -> Session:
        if self._session is None:
            from app.config import SettingsError, load_settings
            from app.db.session import make_engine, make_sessionmaker

            try:
                url = load_settings().database_url
            except SettingsError as exc:
                raise fail(str(exc)) from exc
            _require_sqlite_file(url)
            self._engine = make_engine(url)
            self._session = make_sessionmaker(self._engine)()
        return self._session

    def __enter__(self) -> _Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._session is not None:
            self._session.rollback()
            self._session.close()
        if self._engine is not None:
            self._engine.dispose()


def resolve_run(request: RunRequest) -> RunInputs:
    """Resolve files and ids into :class:`RunInputs`; raises ``typer.Exit(2)`` or ``DomainError``."""
    from sqlalchemy.exc import SQLAlchemyError

    from app.services import jobs as job_service

    with _Registry() as registry:
        try:
            data = _data(registry, request)
            mapping = _mapping(registry, request, data)
            model_row, model = _model(registry, request)
        except SQLAlchemyError as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise fail(f"cannot read the registry database ({type(exc).__name__}: {first})") from exc
        if mapping.row is not None:
            job_service.check_compatible(mapping.row, model=model_row, dataset=data.row)
        priors = _with_any_class(mapping.priors, data.row)
    return RunInputs(
        root=data.root,
        label_encoding=data.label_encoding,
        pairs=data.pairs,
        source=mapping.source or data.source,
        target=mapping.target,
        priors=priors,
        mapping_hash=mapping.mapping_hash,
        model_spec=model.model_spec,
        trust_pickle=model.trust_pickle,
        normalization=model.normalization,
    )


def _with_any_class(priors: CompiledPriors | None, row: Any) -> CompiledPriors | None:
    """A registered dataset's "any class allowed" pixel values added to the priors."""
    if priors is None or row is None:
        return priors
    from app.services import datasets as dataset_service

    return priors.with_any_class(dataset_service.any_class_values(row))


def _report_problems(problems: Sequence[PairProblem]) -> None:
    for p in problems[:20]:
        warn(f"skipped: {p.image or ''} {p.label or ''} line {p.line or '-'}: {p.message}")
    if len(problems) > 20:
        warn(f"... and {len(problems) - 20} more pairing problems")


def _only_split(pairs: list[Pair], split: str | None) -> list[Pair]:
    return pairs if split is None else [p for p in pairs if p.split == split]


def _data(registry: _Registry, request: RunRequest) -> _Data:
    if request.dataset is None:
        return _file_data(request)
    mixed = request.files.given()
    if mixed:
        raise fail(
            f"--dataset {request.dataset} supplies the root, pairing, label encoding and source "
            f"taxonomy; leave out {', '.join(mixed)}"
        )
    from app.services import datasets as dataset_service
    from app.services import taxonomies as taxonomy_service

    session = registry.session()
    row = dataset_service.get_dataset(session, request.dataset)
    splits = json.loads(row.splits_json or "[]")
    if request.split is not None and request.split not in splits:
        raise fail(f"dataset {row.name!r} (id {row.id}) has no split {request.split!r}; splits: {splits}")
    result = dataset_service.pair_dataset(row, split=request.split)
    _report_problems(result.problems)
    pairs = list(result.pairs)
    if not pairs:
        raise fail(f"dataset {row.name!r} (id {row.id}) has no image/label pairs under {row.root}")
    if request.want_labels and any(p.label is None for p in pairs):
        raise fail(f"dataset {row.name!r} (id {row.id}) has no label files, but this run needs them")
    source = taxonomy_service.load_taxonomy(session, row.taxonomy_id, generated=False)
    return _Data(Path(row.root), row.label_encoding, pairs, source, row)


def _file_data(request: RunRequest) -> _Data:
    from app.domain.reference_csv import parse_labels_csv
    from worker.ml.data import resolve_pairs

    files = request.files
    root = files.root or Path(".")
    if files.list_file is None and files.images is None:
        raise fail("give --dataset ID, --list FILE or --images PATTERN (with --labels TEMPLATE)")
    labels = files.labels if request.want_labels else None
    result = resolve_pairs(root, list_file=files.list_file, image_pattern=files.images, label_template=labels)
    _report_problems(result.problems)
    pairs = _only_split(list(result.pairs), request.split)
    if not pairs:
        where = f" in split {request.split!r}" if request.split else ""
        raise fail(f"no image/label pairs found under {root}{where}")
    path = files.source_taxonomy
    source = parse_labels_csv(path.read_text(), path.parent.name or "source") if path else None
    return _Data(root, files.label_encoding or "ids8", pairs, source)


def _mapping(registry: _Registry, request: RunRequest, data: _Data) -> _Mapping:
    from app.domain.priors import compile_priors
    from app.domain.reference_csv import parse_master_labels_csv, target_taxonomy_from_master

    if request.mapping is None:
        return _Mapping(data.source, None, None, None)
    ref = mapping_ref(request.mapping)
    if ref is not None:
        return _registered_mapping(registry, request, *ref)
    path = Path(request.mapping)
    master = parse_master_labels_csv(path.read_text())
    target = target_taxonomy_from_master(master, path.stem.removeprefix("master_labels_") or "target")
    if data.source is None:
        raise fail("--mapping FILE needs --source-taxonomy (or --dataset ID)")
    edges = master.mapping
    return _Mapping(data.source, target, compile_priors(edges, data.source, target), edges.content_hash())


def _registered_mapping(
    registry: _Registry, request: RunRequest, mapping_id: int, number: int | None
) -> _Mapping:
    from app.services import mappings as mapping_service
    from worker.runtime import load_mapping_version

    if request.files.source_taxonomy is not None:
        raise fail(f"--mapping {request.mapping} brings its source taxonomy; leave out --source-taxonomy")
    session = registry.session()
    row = mapping_service.get_mapping(session, mapping_id)
    if number is not None:
        version = mapping_service.get_version_by_number(session, row.id, number)
        if version.status != "approved":
            warn(f"version {number} of mapping {row.name!r} is {version.status}, not approved")
    else:
        approved, _ = mapping_service.list_versions(session, row.id, status="approved", limit=1)
        if not approved:
            raise fail(
                f"mapping {row.name!r} (id {row.id}) has no approved version; approve one, or pin "
                f"a version with --mapping {row.id}@N"
            )
        version = approved[0]
    resolved = load_mapping_version(session, version.id)
    return _Mapping(resolved.source, resolved.target, resolved.priors, resolved.mapping_hash, row)


@dataclass(frozen=True, slots=True)
class _Model:
    model_spec: str
    trust_pickle: bool
    normalization: Normalization | None


def _model(registry: _Registry, request: RunRequest) -> tuple[Any, _Model]:
    """(registered Model row or None, load arguments); --mean/--std override the row's values."""
    ident = model_id(request.model)
    if ident is None:
        return None, _Model(request.model, request.trust_pickle, request.normalization)
    from app.services import models as model_service
    from worker.ml.modeling import Normalization
    from worker.runtime import load_registered_model

    session = registry.session()
    loaded = load_registered_model(session, ident)
    stored = Normalization.from_json(loaded.normalization) if loaded.normalization else None
    # A registered .pth is used through the weights an admin's trust had converted (refused until
    # then); --trust-pickle is for files named by path, the user's own decision on this machine.
    return model_service.get_model(session, ident), _Model(
        loaded.spec, False, request.normalization or stored
    )


def check_classes(teacher_names: tuple[str, ...], target: Taxonomy | None) -> None:
    """The model's class count must equal the mapping target's; differing names only warn."""
    if target is None:
        return
    if len(teacher_names) != target.num_classes:
        raise fail(f"the model has {len(teacher_names)} classes, the mapping's target {target.num_classes}")
    differ = [(i, a, b) for i, (a, b) in enumerate(zip(teacher_names, target.names, strict=True)) if a != b]
    if differ:
        warn(f"model class names differ from the mapping's target, e.g. {differ[:3]}")


TrustOpt = Annotated[bool, typer.Option("--trust-pickle", help="allow arbitrary unpickling of .pth files")]
MeanOpt = Annotated[str | None, typer.Option("--mean", help="override normalisation mean, 0-255: 'r,g,b'")]
StdOpt = Annotated[str | None, typer.Option("--std", help="override normalisation std, 0-255: 'r,g,b'")]


def normalization_option(mean: str | None, std: str | None) -> Normalization | None:
    """``--mean``/``--std`` as a normalisation override (both or neither)."""
    from worker.ml.modeling import Normalization

    if mean is None and std is None:
        return None
    if mean is None or std is None:
        raise fail("--mean and --std go together")
    try:
        return Normalization.from_json(
            {"mean": [float(v) for v in mean.split(",")], "std": [float(v) for v in std.split(",")]}
        )
    except ValueError as exc:
        raise fail(str(exc)) from exc
