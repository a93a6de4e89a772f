"""nuImages masks to label-id arrays (worker layer; no database): the devkit's ``get_segmentation``.

The release folders ``v1.0-*/`` of the dataset root are read lazily, in name order, the first time
an image is not in those already read (one folder holds one split's four tables; see
:mod:`app.domain.nuimages`). A mask is decoded as the devkit's ``mask_decode`` does: the
``counts`` string is base64 of a COCO compressed RLE, decoded by ``pycocotools.mask.decode``.
Reading a release holds its tables in memory, as the devkit does (several GB for v1.0-train).
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from app.domain.errors import InvalidInput
from app.domain.nuimages import TABLES, Release, build_release, category_values, paint_order, parse_table
from app.domain.taxonomy import Taxonomy

MAX_TABLE_BYTES = 8_000_000_000


def decode_mask(mask: Any) -> np.ndarray:
    """``(h, w)`` uint8 0/1 of a nuImages mask ``{"size": [h, w], "counts": <base64 RLE>}``.

    pycocotools is imported here, so that a worker without it still runs every other job.
    """
    try:
        from pycocotools import mask as cocomask
    except ImportError:
        raise InvalidInput(
            "decoding nuImages masks needs pycocotools (pip install 'unilabel[ml]')", field="label"
        ) from None
    rle = {"size": list(mask["size"]), "counts": base64.b64decode(mask["counts"])}
    return np.asarray(cocomask.decode(rle))


def release_dirs(root: Path) -> list[Path]:
    """The release folders of ``root`` (``v1.0-train``, ...): those holding a ``sample_data.json``."""
    return sorted(p for p in root.glob("v1.0-*") if (p / "sample_data.json").is_file())


class NuImagesTables:
    """The root's releases, read as needed; each image's values by the devkit's painting."""

    def __init__(self, root: Path, taxonomy: Taxonomy) -> None:
        self.root, self.taxonomy = root, taxonomy
        self.pending = release_dirs(root)
        self.loaded: list[tuple[str, Release, dict[str, int], tuple[str, ...]]] = []
        self.errors: list[str] = []  # releases that could not be read

    def _load(self, folder: Path) -> None:
        tables: dict[str, list[dict[str, Any]]] = {}
        for name in TABLES:
            path = folder / f"{name}.json"
            rel = path.relative_to(self.root).as_posix()
            if not path.is_file():
                raise InvalidInput(f"the nuImages table {rel!r} is missing", field="label")
            if path.stat().st_size > MAX_TABLE_BYTES:
                raise InvalidInput(f"the nuImages table {rel!r} is larger than 8 GB", field="label")
            try:
                tables[name] = parse_table(path.read_text(encoding="utf-8", errors="replace"), name)
            except InvalidInput as exc:
                raise InvalidInput(f"{folder.name}/{exc.message}", field="label") from None
        release = build_release(tables)
        values, unknown = category_values(release.categories, self.taxonomy)
        self.loaded.append((folder.name, release, values, unknown))

    def _find(self, image: str) -> tuple[str, Release, dict[str, int]]:
        while True:
            for name, release, values, _ in self.loaded:
                if image in release.frames:
                    return name, release, values
            if not self.pending:
                broken = f"; unreadable: {self.errors[0]}" if self.errors else ""
                raise InvalidInput(
                    f"{image!r} is in no v1.0-*/sample_data.json of the root (not an annotated key "
                    f"frame){broken}",
                    field="label",
                )
            try:
                self._load(self.pending.pop(0))
            except InvalidInput as exc:
                self.errors.append(exc.message)

    def convert(self, image: str, background: int) -> tuple[np.ndarray, dict[str, Any]]:
        """``(H, W)`` values of one image (root-relative path), and its conversion record fields.

        Raises:
            InvalidInput: the image is in no release, a table is missing or malformed, or a mask's
                size differs from the image's.
        """
        release_name, release, values = self._find(image)
        frame = release.frames[image]
        out = np.full((frame.height, frame.width), background, dtype=np.int64)
        unknown: dict[str, None] = {}
        for ann in paint_order(frame):
            if ann.mask is None:
                continue
            if list(ann.mask["size"]) != [frame.height, frame.width]:
                raise InvalidInput(
                    f"{release_name}: annotation {ann.token} has a {ann.mask['size']} mask for a "
                    f"{frame.height}x{frame.width} image",
                    field="label",
                )
            if ann.category not in values:
                unknown[release.categories.get(ann.category, ann.category)] = None
                continue
            out[decode_mask(ann.mask) == 1] = values[ann.category]
        anns = [[a.token, a.category, a.mask] for a in paint_order(frame)]
        digest = hashlib.sha256(json.dumps(anns, sort_keys=True).encode()).hexdigest()
        record = {"release": release_name, "sample_data_token": frame.token, "sha256": digest}
        return out, {**record, "unknown": sorted(unknown)}


def tables_sha256(root: Path) -> dict[str, str]:
    """sha256 of every table file of the root's releases (for the conversion's provenance)."""
    out: dict[str, str] = {}
    for folder in release_dirs(root):
        for name in TABLES:
            path = folder / f"{name}.json"
            if path.is_file():
                digest = hashlib.sha256()
                with path.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
                out[path.relative_to(root).as_posix()] = digest.hexdigest()
    return out
