"""Validation report of an ontology mapping against its source and target taxonomies. Pure layer."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from app.domain.mapping import VOID, OntologyMapping
from app.domain.taxonomy import NO_PIXEL, Taxonomy

Severity = Literal["error", "warning", "info"]
# Errors that make the prior wrong (an edge to a class the target lacks). Other errors (a cell
# naming no label of the source: its edges are not stored and never reach the prior) may be
# acknowledged by the approving reviewer.
BLOCKING_CODES = frozenset({"unknown_target"})
_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding of a validation report.

    Codes: ``unknown_source_name`` (error), ``unknown_target`` (error), ``duplicate_entry`` (warning),
    ``unmapped_source`` (warning; info for labels with pixel value -1), ``void_only`` (info),
    ``ambiguous_source`` (warning), ``unreached_target`` (warning), ``duplicate_source_name``
    (warning: the name belongs to several source labels; the edge applies to all of them).
    File findings of ``labels.csv``: ``duplicate_label_name`` and ``junk_cell`` (warnings, with
    ``row``/``column``).
    """

    code: str
    severity: Severity
    message: str
    source_name: str | None = None
    target_id: int | None = None
    suggestion: str | None = None
    row: int | None = None  # 1-based file row, for findings of a parsed file
    column: int | None = None  # 1-based file column
    fix: tuple[str, ...] = ()  # unknown_source_name: the label name(s) the suggestion means
    targets: tuple[int, ...] = ()  # unknown_source_name: the targets the unknown name was given

    def __post_init__(self) -> None:  # stored as JSON lists
        object.__setattr__(self, "fix", tuple(self.fix))
        object.__setattr__(self, "targets", tuple(self.targets))

    @property
    def key(self) -> str:
        """Identifies the finding within a version's report (acknowledgements and fixes name it)."""
        target = "" if self.target_id is None else str(self.target_id)
        return f"{self.code}|{self.source_name or ''}|{target}"

    @property
    def blocking(self) -> bool:
        """An error that makes the compiled prior wrong: approval is refused while it stands."""
        return self.severity == "error" and self.code in BLOCKING_CODES

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "source_name": self.source_name,
            "target_id": self.target_id,
            "suggestion": self.suggestion,
            "row": self.row,
            "column": self.column,
            "fix": list(self.fix),
            "targets": list(self.targets),
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def infos(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "info")

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """Errors that refuse approval outright."""
        return tuple(f for f in self.findings if f.blocking)

    @property
    def to_acknowledge(self) -> tuple[Finding, ...]:
        """Errors that do not make the prior wrong: an approval must acknowledge each of them."""
        return tuple(f for f in self.errors if not f.blocking)

    def find(self, key: str) -> Finding | None:
        return next((f for f in self.findings if f.key == key), None)

    def by_code(self, code: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.code == code)

    def for_source(self, name: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.source_name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": {
                "error": len(self.errors),
                "warning": len(self.warnings),
                "info": len(self.infos),
            },
            "findings": [f.to_dict() for f in self.findings],
        }


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def suggest_source_name(name: str, taxonomy: Taxonomy) -> str | None:
    """Explain an unknown name: whitespace/case/underscore typo, two names glued by a missing comma,
    or a close spelling. Returns a human sentence or None."""
    fix = suggest_fix(name, taxonomy)
    if not fix:
        return None
    if len(fix) == 2:
        return f"looks like {fix[0]!r} and {fix[1]!r} glued together (missing comma?)"
    if _norm(fix[0]) == _norm(name):
        return f"did you mean {fix[0]!r}? (differs only in spaces, underscores, hyphens or case)"
    return f"did you mean {fix[0]!r}?"


def suggest_fix(name: str, taxonomy: Taxonomy) -> tuple[str, ...]:
    """The label name(s) that :func:`suggest_source_name` means: one name, two glued names, or ()."""
    names = taxonomy.names
    key = _norm(name)
    same = [n for n in names if _norm(n) == key]
    if same:
        return (same[0],)
    normed = {n: _norm(n) for n in names}
    for a in names:
        if not key.startswith(normed[a]) or normed[a] == "":
            continue
        rest = key[len(normed[a]) :]
        for b in names:
            if b != a and normed[b] == rest:
                return (a, b)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
    return (close[0],) if close else ()


def unknown_source_finding(name: str, source: Taxonomy, targets: tuple[int, ...], note: str = "") -> Finding:
    """The ``unknown_source_name`` error for ``name`` (given ``targets``), with its suggestion and fix."""
    return Finding(
        "unknown_source_name",
        "error",
        f"{name!r} is not a label of source taxonomy {source.name!r}{note}",
        source_name=name,
        suggestion=suggest_source_name(name, source),
        fix=suggest_fix(name, source),
        targets=targets,
    )


def validate_mapping(
    mapping: OntologyMapping,
    source: Taxonomy,
    target: Taxonomy,
    *,
    extra_findings: tuple[Finding, ...] = (),
) -> ValidationReport:
    """Every finding about ``mapping`` (source label names -> target class ids / void).

    ``extra_findings`` carries findings only the file parser can see (e.g. duplicate entries).
    Findings are sorted by severity, then code, then source name.
    """
    findings: list[Finding] = list(extra_findings)
    target_ids = {lb.value for lb in target.labels}
    for name in mapping.source_names:
        if not source.has_name(name):
            findings.append(unknown_source_finding(name, source, mapping.targets_of(name)))
    for name, t in mapping.sorted_edges():
        if t != VOID and t not in target_ids:
            findings.append(
                Finding(
                    "unknown_target",
                    "error",
                    f"{name!r} maps to class id {t}, which target taxonomy {target.name!r} lacks",
                    source_name=name,
                    target_id=t,
                )
            )
    duplicated = source.duplicate_names
    for name in mapping.source_names:
        if name in duplicated:
            values = ", ".join(str(lb.value) for lb in duplicated[name])
            findings.append(
                Finding(
                    "duplicate_source_name",
                    "warning",
                    f"{name!r} names {len(duplicated[name])} labels of {source.name!r} (ids {values}): "
                    "its edges apply to all of them, as in the authors' code",
                    source_name=name,
                )
            )
    findings.extend(_source_findings(mapping, source, target))
    reached = {t for n, t in mapping.edges if source.has_name(n)}
    for lb in target.labels:
        if lb.value not in reached:
            findings.append(
                Finding(
                    "unreached_target",
                    "warning",
                    f"no source label maps to target class {lb.value} {lb.name!r}",
                    target_id=lb.value,
                )
            )
    findings.sort(key=lambda f: (_SEVERITY_ORDER[f.severity], f.code, f.source_name or "", f.target_id or 0))
    return ValidationReport(tuple(findings))


def _source_findings(mapping: OntologyMapping, source: Taxonomy, target: Taxonomy) -> list[Finding]:
    names = {lb.value: lb.name for lb in target.labels}
    out: list[Finding] = []
    seen: set[str] = set()
    for lb in source.labels:
        if lb.name in seen:  # a repeated name: one finding (its edges are shared)
            continue
        seen.add(lb.name)
        targets = mapping.targets_of(lb.name)
        if not targets:
            severity: Severity = "info" if lb.value == NO_PIXEL else "warning"
            out.append(
                Finding(
                    "unmapped_source",
                    severity,
                    f"{lb.name!r} is in no edge and maps to void",
                    source_name=lb.name,
                )
            )
        elif targets == (VOID,):
            out.append(Finding("void_only", "info", f"{lb.name!r} maps only to void", source_name=lb.name))
        elif len(targets) > 1:
            shown = ", ".join("void" if t == VOID else f"{t} {names.get(t, '?')!r}" for t in targets)
            out.append(
                Finding(
                    "ambiguous_source",
                    "warning",
                    f"{lb.name!r} maps to several targets ({shown}): the teacher chooses per pixel; "
                    "a hard mapping sends it to 255",
                    source_name=lb.name,
                )
            )
    return out
