"""Import/export of the paper's ``master_labels_<taxonomy>.csv`` (services layer).

API (re-exported by ``app.services.mappings``):
    import_master_labels(session, *, text, source_taxonomy_id, mapping_id=None, name=None,
                         target_name=None, base_version_id=None, author=None, message=None,
                         target_name_exact=False, target_taxonomy_id=None, create_target=False)
        -> ImportResult(mapping, version, target_taxonomy, target_created, mapping_created, report, ...)
        Without ``mapping_id``: the target taxonomy comes from ``target_taxonomies.resolve_target``
        (an identical class list reused; one close to a stored list refused with 409
        ``target_classes_differ`` unless ``target_taxonomy_id`` or ``create_target`` says what to do)
        and the mapping is created with version 1.
        With ``mapping_id``: the file's classes must equal the mapping's target (422 naming the
        differing classes otherwise); a new version is
        created on top of the head (``base_version_id`` defaults to the head: a file import is a
        deliberate bulk replace).
    target_outcome(result) -> str | None
        the sentence every interface shows on the target taxonomy (reused/created/renamed/chosen)
    export_master_labels(session, *, version_id) -> str
        an imported version exports its file byte for byte; an edited one canonically
    authors_pseudo_label_mapping(session, *, taxonomy_id, author=None) -> (MappingRow, created)
        identity mapping to train on the authors' pseudo-labels (void stored as N, read as ignore)
    apply_suggestion(session, *, version_id, finding_key, author=None) -> VersionRow
        one-click fix of an unknown name with a suggestion (a new version on top of the head)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from app.db.models import Mapping as MappingRow
from app.db.models import MappingVersion as VersionRow
from app.db.models import Taxonomy as TaxonomyRow
from app.db.models import User
from app.domain.class_lists import ClassDifference
from app.domain.errors import InvalidInput
from app.domain.reference_csv import MasterLabels, format_master_labels_csv, parse_master_labels_csv
from app.domain.taxonomy import Taxonomy
from app.domain.validation import ValidationReport, unknown_source_finding
from app.services import target_taxonomies
from app.services import taxonomies as taxonomy_service


@dataclass(frozen=True, slots=True)
class ImportResult:
    mapping: MappingRow
    version: VersionRow
    target_taxonomy: TaxonomyRow
    target_created: bool
    mapping_created: bool
    report: ValidationReport
    target_requested_name: str | None = None  # the name asked for (reuse may keep another)
    target_chosen: bool = False  # the user picked this existing taxonomy
    target_corrected: tuple[ClassDifference, ...] = ()  # file names read as the chosen taxonomy's


def import_master_labels(
    session: Session,
    *,
    text: str,
    source_taxonomy_id: int | None = None,
    mapping_id: int | None = None,
    name: str | None = None,
    target_name: str | None = None,
    base_version_id: int | None = None,
    author: User | None = None,
    message: str | None = None,
    target_name_exact: bool = False,
    target_taxonomy_id: int | None = None,
    create_target: bool = False,
) -> ImportResult:
    """Parse a master_labels CSV and store it as a new mapping or a new version of one.

    ``target_name_exact``: ``target_name`` was given by the user; a different class list of that
    name is a 409 instead of a new ``name (2)`` (an identical class list is always reused).
    ``target_taxonomy_id`` / ``create_target``: the user's answer to ``target_classes_differ``
    (new mappings only): use that taxonomy (its names replace the file's; the version then
    exports canonically, with them), or create a new one.
    """
    from app.services import mappings as svc

    try:
        master = parse_master_labels_csv(text)
    except InvalidInput as exc:
        exc.field = exc.field or "file"  # a problem of the file as a whole
        raise
    if mapping_id is not None:
        if target_taxonomy_id is not None or create_target:
            raise InvalidInput(
                "a new version keeps its mapping's target taxonomy; choose a target only for a new mapping",
                field="target_taxonomy_id" if target_taxonomy_id is not None else "create_target",
            )
        mapping = svc.get_mapping(session, mapping_id)
        if source_taxonomy_id is not None and source_taxonomy_id != mapping.source_taxonomy_id:
            raise InvalidInput("the mapping has a different source taxonomy", field="source_taxonomy_id")
        master = _without_unknown_sources(
            master, taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id)
        )
        target_row = taxonomy_service.get_taxonomy(session, mapping.target_taxonomy_id)
        target = taxonomy_service.to_domain(session, target_row)
        target_taxonomies.check_mapping_target(target_row, target, master.target_classes)
        head = svc.current_version(session, mapping.id)
        unchanged = master.mapping.content_hash() == head.content_hash and {
            f.key for f in svc.import_findings(head)
        } == {f.key for f in master.findings}
        version = svc.replace_edges(
            session,
            mapping_id=mapping.id,
            edges=master.edges,
            base_version_id=base_version_id if base_version_id is not None else head.id,
            author=author,
            message=message or "Imported master_labels CSV",
            import_findings=() if unchanged else master.findings,  # the same file again: no new version
        )
        if version.id != head.id:  # a new version: this file is its original
            version.original_text = text
        return ImportResult(
            mapping, version, target_row, False, False, svc.validation_report(session, version.id)
        )
    return _import_new_mapping(
        session,
        master,
        text,
        source_taxonomy_id=source_taxonomy_id,
        name=name,
        requested=target_name or f"{len(master.target_classes)} classes",
        exact_name=target_name_exact and target_name is not None,
        target_taxonomy_id=target_taxonomy_id,
        create_target=create_target,
        author=author,
        message=message,
    )


def _import_new_mapping(
    session: Session,
    master: MasterLabels,
    text: str,
    *,
    source_taxonomy_id: int | None,
    name: str | None,
    requested: str,
    exact_name: bool,
    target_taxonomy_id: int | None,
    create_target: bool,
    author: User | None,
    message: str | None,
) -> ImportResult:
    """The new-mapping half of :func:`import_master_labels` (the target from ``resolve_target``)."""
    from app.services import mappings as svc

    if source_taxonomy_id is None:
        raise InvalidInput("a source taxonomy is required", field="source_taxonomy_id")
    source = taxonomy_service.get_taxonomy(session, source_taxonomy_id)
    master = _without_unknown_sources(master, taxonomy_service.to_domain(session, source))
    choice = target_taxonomies.resolve_target(
        session,
        classes=master.target_classes,
        name=requested,
        exact_name=exact_name,
        target_taxonomy_id=target_taxonomy_id,
        create_target=create_target,
    )
    target_row = choice.row
    if choice.corrected:
        corrections = target_taxonomies.describe_corrections(choice.corrected)
        message = (
            f"{message or 'Imported master_labels CSV'} (target names as {target_row.name!r}: {corrections})"
        )
    mapping_name = svc.unique_mapping_name(session, name or f"{source.name} -> {target_row.name}")
    mapping = svc.create_mapping(
        session,
        name=mapping_name,
        source_taxonomy_id=source.id,
        target_taxonomy_id=target_row.id,
        edges=master.edges,
        author=author,
        message=message or "Imported master_labels CSV",
        import_findings=master.findings,
    )
    version = svc.current_version(session, mapping.id)
    # with corrected target names the file is no longer what the version says: export canonically
    version.original_text = None if choice.corrected else text
    report = svc.validation_report(session, version.id)
    return ImportResult(
        mapping, version, target_row, choice.created, True, report, requested, choice.chosen, choice.corrected
    )


def target_outcome(result: ImportResult) -> str | None:
    """One sentence on the target taxonomy of a new mapping (reused, created, renamed or chosen), so
    that no interface changes a name silently; None for a new version of an existing mapping."""
    if not result.mapping_created:
        return None
    got, asked = result.target_taxonomy.name, result.target_requested_name
    if result.target_chosen:
        fixed = target_taxonomies.describe_corrections(result.target_corrected)
        return f"target taxonomy {got!r} chosen" + (
            f"; the file's names were read as its names: {fixed}" if fixed else ""
        )
    if not result.target_created:
        note = "" if got == asked else f"; the name {asked!r} was not applied"
        return f"target taxonomy {got!r} reused: identical class list{note}"
    if got != asked:
        return f"target taxonomy created as {got!r}: {asked!r} is taken by a different class list"
    return f"target taxonomy {got!r} created"


def _without_unknown_sources(master: MasterLabels, source: Taxonomy) -> MasterLabels:
    """Drop the edges of names the source taxonomy lacks; each such name becomes an error finding.

    The authors' files hold typos (GOOSE's file names Cityscapes' 'road'): the import reports them,
    with a suggestion, but never stores an edge for a label that does not exist.
    """
    unknown = sorted({n for n, _ in master.edges if not source.has_name(n)})
    if not unknown:
        return master
    findings = tuple(
        unknown_source_finding(
            name,
            source,
            tuple(sorted(t for n, t in master.edges if n == name)),
            "; its edges were not imported",
        )
        for name in unknown
    )
    skipped = set(unknown)
    edges = frozenset(e for e in master.edges if e[0] not in skipped)
    return replace(master, edges=edges, findings=master.findings + findings)


def apply_suggestion(
    session: Session, *, version_id: int, finding_key: str, author: User | None = None
) -> VersionRow:
    """One-click fix of an ``unknown_source_name`` finding that has a suggestion ("did you mean
    'autorickshaw'?"): the targets the unknown name was given go to the suggested label(s), as a new
    version on top of ``version_id`` (which must be the head; 409 otherwise). The version's other
    import findings are carried over."""
    from app.services import mappings as svc

    version = svc.get_version(session, version_id)
    finding = svc.validation_report(session, version_id).find(finding_key)
    if (
        finding is None
        or finding.code != "unknown_source_name"
        or not finding.fix
        or finding.source_name is None
    ):
        raise InvalidInput(
            f"version {version.number} has no suggestion to apply for {finding_key!r}", field="finding"
        )
    edges = svc.version_edges(version)
    unknown = finding.source_name
    targets = set(finding.targets) | set(edges.targets_of(unknown))
    new = {e for e in edges.edges if e[0] != unknown} | {(n, t) for n in finding.fix for t in targets}
    fixed = " and ".join(repr(n) for n in finding.fix)
    return svc.replace_edges(
        session,
        mapping_id=version.mapping_id,
        edges=new,
        base_version_id=version.id,
        author=author,
        message=f"Applied suggestion: {unknown!r} -> {fixed}",
        import_findings=tuple(f for f in svc.import_findings(version) if f.key != finding_key),
    )


def authors_pseudo_label_mapping(
    session: Session, *, taxonomy_id: int, author: User | None = None
) -> tuple[MappingRow, bool]:
    """The mapping that reads the authors' own pseudo-labels as a ground-truth training set.

    Their pseudo-label PNGs hold target class ids 0..N-1 and store void as N (not 255). Register
    the folder as a dataset labelled in the target taxonomy ``taxonomy_id`` and train on it
    (kind ``ground_truth``) with this mapping: each class to itself; N (and 255) are no label of
    the taxonomy, so the lookup table reads them as ignore (255) -- converted on read. Returns
    (mapping, created); an existing one of the same name is reused.
    """
    from app.services import mappings as svc

    row = taxonomy_service.get_taxonomy(session, taxonomy_id)
    target = taxonomy_service.to_domain(session, row)
    if not target.is_class_list() or target.duplicate_names:
        raise InvalidInput(
            f"taxonomy {row.name!r} must be a class list 0..N-1 with distinct names", field="taxonomy_id"
        )
    n = target.num_classes
    name = f"{row.name} pseudo-labels (void stored as {n})"
    for existing in svc.list_mappings(session, limit=1000, source_taxonomy_id=row.id)[0]:
        if existing.name == name and existing.target_taxonomy_id == row.id:
            return existing, False
    mapping = svc.create_mapping(
        session,
        name=svc.unique_mapping_name(session, name),
        source_taxonomy_id=row.id,
        target_taxonomy_id=row.id,
        edges=[(lb.name, lb.value) for lb in target.labels],
        author=author,
        message="Identity mapping for the authors' pseudo-labels",
        description=f"Reads pseudo-labels whose void is stored as {n} (the authors' convention): "
        f"classes 0..{n - 1} map to themselves; {n} and 255 read as ignore.",
    )
    return mapping, True


def export_master_labels(session: Session, *, version_id: int) -> str:
    """A version's edges in the paper's master_labels format (sources in source-taxonomy order).

    A version made by an import (or restored from one, same edges) exports the imported file byte
    for byte: its header, padding, row order and void row name.
    """
    from app.services import mappings as svc

    version = svc.get_version(session, version_id)
    if version.original_text is not None:
        return version.original_text
    if version.restored_from_id is not None:
        restored = svc.get_version(session, version.restored_from_id)
        if restored.original_text is not None and restored.content_hash == version.content_hash:
            return restored.original_text
    mapping = svc.get_mapping(session, version.mapping_id)
    source = taxonomy_service.load_taxonomy(session, mapping.source_taxonomy_id)
    target = taxonomy_service.load_taxonomy(session, mapping.target_taxonomy_id)
    return format_master_labels_csv(target, svc.version_edges(version), source)


def target_name_from_filename(filename: str | None) -> str | None:
    """``master_labels_offroad.csv`` -> ``offroad`` (the paper names files after the target)."""
    if not filename:
        return None
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if stem.startswith("master_labels_") and len(stem) > len("master_labels_"):
        return stem[len("master_labels_") :]
    return None
