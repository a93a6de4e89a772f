"""Pair image files with label files by rule. Pure domain layer: works on lists of relative paths.

Two rules:

* a list file: one ``image label`` pair of relative paths per line (``#`` comments, blank lines ok);
* an image pattern plus a label template, e.g. ``images/{split}/{stem}.jpg`` and
  ``labels/{split}/{stem}_labelids.png``. The image pattern may use ``{split}``, ``{stem}``,
  ``{name}`` (any other ``{word}`` too) and the glob wildcards ``*``, ``?`` and ``**/``; the label
  template may use the pattern's placeholders plus ``{stem}``, ``{name}`` (image file name) and
  ``{dir}`` (the image's folder). Both follow :mod:`app.domain.path_template`: named fields only,
  ``{{``/``}}`` for literal braces; the label is filled by plain substitution, never ``str.format``.

The caller walks the file system and passes the relative (posix) paths in; the functions return
pairs and per-pair problems, and never raise for bad data (only for a bad rule).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from app.domain.errors import InvalidInput
from app.domain.path_template import Field, PathTemplate, parse_path_template

BUILTIN_FIELDS = frozenset({"stem", "name", "dir"})


@dataclass(frozen=True, slots=True)
class Pair:
    """An image and its label file (the label is None in no-ground-truth mode)."""

    image: str
    label: str | None
    split: str | None = None


@dataclass(frozen=True, slots=True)
class PairProblem:
    """Why an image or a line could not be paired."""

    message: str
    image: str | None = None
    label: str | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class PairingResult:
    pairs: tuple[Pair, ...]
    problems: tuple[PairProblem, ...]


def _bad_relative_path(path: str) -> str | None:
    p = PurePosixPath(path)
    if p.is_absolute() or path.startswith("\\") or re.match(r"^[A-Za-z]:", path):
        return "is absolute; paths must be relative to the dataset root"
    if ".." in p.parts:
        return "leaves the dataset root (..)"
    return None


def pairs_from_list_file(text: str, available: Collection[str] | None = None) -> PairingResult:
    """Parse a list file of ``image label`` lines.

    Args:
        text: the list file's content. Fields are separated by whitespace (tabs allowed).
        available: the relative paths that exist; when given, missing files become problems.
    """
    pairs: list[Pair] = []
    problems: list[PairProblem] = []
    avail = set(available) if available is not None else None
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields if f.strip()]
        if len(fields) != 2:
            problems.append(PairProblem(f"expected 2 fields 'image label', got {len(fields)}", line=lineno))
            continue
        image, label = (PurePosixPath(f).as_posix() for f in fields)
        problem = _check_pair(image, label, avail)
        if problem is not None:
            problems.append(PairProblem(problem, image=image, label=label, line=lineno))
            continue
        pairs.append(Pair(image=image, label=label))
    problems.extend(_duplicate_problems(pairs))
    return PairingResult(tuple(_dedupe(pairs)), tuple(problems))


def _check_pair(image: str, label: str, avail: set[str] | None) -> str | None:
    for kind, path in (("image", image), ("label", label)):
        bad = _bad_relative_path(path)
        if bad:
            return f"{kind} path {path!r} {bad}"
        if avail is not None and path not in avail:
            return f"{kind} file {path!r} does not exist"
    return None


def _duplicate_problems(pairs: list[Pair]) -> list[PairProblem]:
    counts = Counter(p.image for p in pairs)
    return [
        PairProblem("image listed more than once; the first pair is used", image=i)
        for i, c in counts.items()
        if c > 1
    ]


def _dedupe(pairs: Iterable[Pair]) -> list[Pair]:
    seen: set[str] = set()
    out = []
    for p in pairs:
        if p.image not in seen:
            seen.add(p.image)
            out.append(p)
    return out


def compile_image_pattern(pattern: str) -> re.Pattern[str]:
    """Turn an image pattern (placeholders + globs) into a regex with named groups.

    Raises:
        InvalidInput: a placeholder is repeated or malformed, or the pattern is empty/absolute.
    """
    if not pattern or _bad_relative_path(pattern):
        raise InvalidInput(
            f"image pattern {pattern!r} must be a relative path pattern", field="image_pattern"
        )
    parsed = parse_path_template(pattern, what="image pattern", field="image_pattern")
    out: list[str] = []
    seen: set[str] = set()
    for part in parsed.parts:
        if isinstance(part, Field):
            if part.name in seen:
                raise InvalidInput(
                    f"placeholder {{{part.name}}} appears twice in {pattern!r}", field="image_pattern"
                )
            seen.add(part.name)
            out.append(f"(?P<{part.name}>[^/]+?)" if part.name != "dir" else "(?P<dir>.+?)")
        else:
            out.append(_glob_regex(part))
    return re.compile("".join(out) + r"\Z")


def _glob_regex(literal: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(literal):
        if literal.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        ch = literal[i]
        out.append("[^/]*" if ch == "*" else "[^/]" if ch == "?" else re.escape(ch))
        i += 1
    return "".join(out)


def parse_label_template(
    label_template: str, image_pattern: str, regex: re.Pattern[str] | None = None
) -> PathTemplate:
    """Check a label template against its image pattern (before anything is stored).

    The template is a relative path whose fields are the pattern's placeholders and
    :data:`BUILTIN_FIELDS`.

    Raises:
        InvalidInput (field ``label_template``): malformed, unknown field, absolute or ``..``;
        (field ``image_pattern``): the pattern itself is invalid.
    ``regex``: the pattern already compiled (:func:`compile_image_pattern`), when the caller has it.
    """
    regex = regex or compile_image_pattern(image_pattern)
    if not label_template.strip():
        raise InvalidInput(
            "label template is empty; leave it out for images without labels", field="label_template"
        )
    bad = _bad_relative_path(label_template)
    if bad:
        raise InvalidInput(f"label template {label_template!r} {bad}", field="label_template")
    allowed = set(regex.groupindex) | BUILTIN_FIELDS
    return parse_path_template(
        label_template,
        allowed=allowed,
        unknown=f"is not defined: the image pattern {image_pattern!r} does not define it",
    )


def pairs_from_template(
    files: Iterable[str],
    image_pattern: str,
    label_template: str | None,
) -> PairingResult:
    """Pair every file matching ``image_pattern`` with ``label_template`` filled from its fields.

    Args:
        files: relative posix paths under the dataset root (images and labels).
        image_pattern: e.g. ``images/{split}/{stem}.jpg`` or ``images/**/*.png``.
        label_template: e.g. ``labels/{split}/{stem}_labelids.png``; None pairs images with no label.

    Raises:
        InvalidInput: the pattern or the template is invalid (see :func:`parse_label_template`).
    """
    regex = compile_image_pattern(image_pattern)
    template = (
        parse_label_template(label_template, image_pattern, regex) if label_template is not None else None
    )
    all_files = sorted(set(files))
    available = set(all_files)
    pairs: list[Pair] = []
    problems: list[PairProblem] = []
    label_owner: dict[str, str] = {}
    for path in all_files:
        m = regex.match(path)
        if m is None:
            continue
        fields = _fields_of(path, m)
        if template is None:
            pairs.append(Pair(image=path, label=None, split=fields.get("split")))
            continue
        label = template.render(fields)
        if label == path:
            continue  # a label file that also matches the image pattern
        bad = _bad_relative_path(label)
        if bad is not None:  # a field value such as '..' must not lead out of the root
            problems.append(PairProblem(f"label path {label!r} {bad}", image=path, label=label))
        elif label not in available:
            problems.append(PairProblem(f"label file {label!r} does not exist", image=path, label=label))
        elif label in label_owner:
            problems.append(
                PairProblem(
                    f"label {label!r} already paired with {label_owner[label]!r}", image=path, label=label
                )
            )
        else:
            label_owner[label] = path
            pairs.append(Pair(image=path, label=label, split=fields.get("split")))
    return PairingResult(tuple(pairs), tuple(problems))


def _fields_of(path: str, match: re.Match[str]) -> dict[str, str]:
    p = PurePosixPath(path)
    fields = {"stem": p.stem, "name": p.name, "dir": p.parent.as_posix()}
    fields.update({k: v for k, v in match.groupdict().items() if v is not None})
    return fields


def format_list_file(pairs: Iterable[Pair]) -> str:
    """The list-file text for ``pairs`` (tab separated; the inverse of :func:`pairs_from_list_file`)."""
    return "".join(f"{p.image}\t{p.label}\n" for p in pairs if p.label is not None)
