"""Split list files of a dataset preset: which split each image belongs to. Pure domain layer.

Some datasets publish their splits as list files rather than folders: RELLIS-3D's
``train.lst`` / ``val.lst`` / ``test.lst`` hold one ``image label`` line per pair, the paths
relative to the ``Rellis-3D/`` folder (the devkit's ``benchmarks/utils/split_data.py`` writes
them by cutting the root off each path, so a root given without its trailing slash leaves a
leading ``/``). ApolloScape's scene parsing has several lists per split
(``road01_ins_train.lst``, ``road02_ins_train.lst``, ...), each line ``image<TAB>label`` with
paths relative to the folder holding ``road01_ins/``. Only the first field (the image) is read:
the pairing rule already finds the label.

A listed image is found among the paired images by its path relative to the list file's folder,
else by the listed path itself, else by the one image whose path ends with it (the list files may
sit above or below the registered root). Images listed by no list keep no split; listed images
that are not found are counted, with a few examples.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath

from app.domain.pairing import PairingResult

MAX_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class SplitList:
    """A split list file of a preset: the split it gives and the file's name (found at any depth).

    ``column``: the list is a CSV file with a header, and the image is in this column (WildScenes'
    ``id,im_path,label_path``); else the image is the first whitespace-separated field of a line.
    """

    split: str
    filename: str
    column: str | None = None


@dataclass(frozen=True, slots=True)
class SplitListUse:
    """What one list file did: how many lines, how many matched a paired image, a few misses."""

    split: str
    path: str
    listed: int
    matched: int
    missing_examples: tuple[str, ...] = ()

    @property
    def missing(self) -> int:
        return self.listed - self.matched


@dataclass(frozen=True, slots=True)
class SplitAssignment:
    """Image path -> split from the list files found, with what each file did.

    ``twice``: images listed in more than one list (the first list in the preset's order wins).
    """

    splits: Mapping[str, str]
    uses: tuple[SplitListUse, ...]
    twice: tuple[str, ...] = field(default=())


def find_split_lists(lists: Sequence[SplitList], files: Iterable[str]) -> list[tuple[str, str]]:
    """``(split, path)`` per list found, in the preset's order: the shallowest file named like the
    list (ties: the first in sorted order). A split may have several lists (ApolloScape's
    ``road01_ins_train.lst``, ``road02_ins_train.lst``, ...)."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for f in files:
        by_name[PurePosixPath(f).name].append(f)
    found: list[tuple[str, str]] = []
    for entry in lists:
        candidates = sorted(by_name.get(entry.filename, ()), key=lambda p: (p.count("/"), p))
        if candidates and candidates[0] not in {path for _, path in found}:
            found.append((entry.split, candidates[0]))
    return found


def _relative(field: str) -> str:
    path = field.strip().replace("\\", "/").lstrip("/")
    while path.startswith("./"):
        path = path[2:]
    return path


def listed_images(text: str, column: str | None = None) -> list[str]:
    """The listed images as relative posix paths (a leading ``/`` or ``./`` dropped).

    Without ``column``: the first field of each non-empty line ('#' lines skipped): up to the
    first tab when the line has one (ApolloScape's paths hold spaces: ``Camera 5/``), else up to
    the first space. With it: that column of a CSV file with a header (no such column: nothing is
    listed).
    """
    if column is not None:
        rows = csv.DictReader(io.StringIO(text))
        if rows.fieldnames is None or column not in rows.fieldnames:
            return []
        return [p for row in rows if (p := _relative(row.get(column) or ""))]
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        first = line.split("\t", 1)[0] if "\t" in line else line.split()[0]
        if path := _relative(first):
            out.append(path)
    return out


def _suffix_index(images: Iterable[str]) -> dict[str, list[str]]:
    index: dict[str, list[str]] = defaultdict(list)
    for image in images:
        parts = image.split("/")
        for i in range(1, len(parts)):
            index["/".join(parts[i:])].append(image)
    return index


def _resolve(listed: str, folder: str, known: set[str], suffixes: Mapping[str, list[str]]) -> str | None:
    """Relative to the list's folder, the root, a unique image path ending; then the same with the
    listed path's leading folders dropped one by one (``WildScenes2d/K-01/...`` in a root that is
    ``WildScenes2d/`` itself). A path with spaces not found is tried with ``_`` for them
    (ApolloScape's lists say ``Camera 5`` where some unpacked copies have ``Camera_5``)."""
    found = _resolve_as_listed(listed, folder, known, suffixes)
    if found is None and " " in listed:
        found = _resolve_as_listed(listed.replace(" ", "_"), folder, known, suffixes)
    return found


def _resolve_as_listed(
    listed: str, folder: str, known: set[str], suffixes: Mapping[str, list[str]]
) -> str | None:
    parts = listed.split("/")
    for i in range(len(parts)):
        path = "/".join(parts[i:])
        joined = f"{folder}/{path}" if folder else path
        if joined in known:
            return joined
        if path in known:
            return path
        ends = suffixes.get(path, [])
        if len(ends) == 1 and i == 0:
            return ends[0]
    return None


def assign_splits(
    images: Iterable[str], lists: Sequence[tuple[str, str, str]], columns: Mapping[str, str] | None = None
) -> SplitAssignment:
    """Assign ``images`` their split from ``lists`` of ``(split, list path, list text)``, in order.

    ``columns``: split -> CSV column of the image (see :class:`SplitList`)."""
    known = set(images)
    suffixes = _suffix_index(known)
    splits: dict[str, str] = {}
    twice: list[str] = []
    uses = []
    for split, path, text in lists:
        folder = str(PurePosixPath(path).parent).removeprefix(".")
        entries = listed_images(text, (columns or {}).get(split))
        matched, missing = 0, []
        for listed in entries:
            image = _resolve(listed, folder, known, suffixes)
            if image is None:
                missing.append(listed)
                continue
            matched += 1
            if image in splits:
                if splits[image] != split:
                    twice.append(image)
                continue
            splits[image] = split
        uses.append(SplitListUse(split, path, len(entries), matched, tuple(missing[:MAX_EXAMPLES])))
    return SplitAssignment(splits, tuple(uses), tuple(twice[:MAX_EXAMPLES]))


def apply_assignment(result: PairingResult, assignment: SplitAssignment) -> PairingResult:
    """The pairs with the split their list gives (pairs no list names keep theirs)."""
    pairs = tuple(
        replace(p, split=assignment.splits[p.image]) if p.image in assignment.splits else p
        for p in result.pairs
    )
    return PairingResult(pairs, result.problems)
