"""Datasets over image/label file pairs: file walking, pairing, decoding, equal-size batching (worker.ml).

Decoding runs inside a DataLoader (worker processes when ``num_workers > 0``) so that it overlaps
the model. Bad files never raise: a :class:`Sample` carries the error and the run reports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from app.domain.label_codec import LabelEncoding, Palette, unknown_value_mask
from app.domain.pairing import Pair, PairingResult, pairs_from_list_file, pairs_from_template
from worker.ml.io import DataFileError, image_size, read_image, read_label


def list_files(root: Path) -> list[str]:
    """Relative posix paths of all files under ``root`` (hidden files and folders skipped), sorted."""
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root)
        out.extend((rel / f).as_posix() for f in filenames if not f.startswith("."))
    return sorted(out)


def resolve_pairs(
    root: Path,
    *,
    list_file: Path | None = None,
    image_pattern: str | None = None,
    label_template: str | None = None,
) -> PairingResult:
    """Pair the files under ``root`` by a list file or by an image pattern + label template."""
    files = list_files(root)
    if list_file is not None:
        return pairs_from_list_file(list_file.read_text(), available=set(files))
    if image_pattern is None:
        raise ValueError("give a list file or an image pattern")
    return pairs_from_template(files, image_pattern, label_template)


@dataclass(slots=True)
class Sample:
    """One decoded pair.

    Attributes:
        image: ``(H, W, 3)`` uint8, None on error.
        values: ``(H, W)`` int32 source pixel values, None without ground truth or on error.
        unknown_value_pixels: label pixels whose value is not in the source taxonomy.
        unknown_color_pixels: RGB label pixels with a colour outside the palette.
        warnings: non-fatal problems (unknown colours/values).
        error: why the pair cannot be used (unreadable file, size mismatch).
    """

    index: int
    pair: Pair
    image: np.ndarray | None = None
    values: np.ndarray | None = None
    unknown_value_pixels: int = 0
    unknown_color_pixels: int = 0
    warnings: tuple[str, ...] = ()
    error: str | None = None


class PairDataset(Dataset[Sample]):
    """Decodes ``pairs[i]`` relative to ``root`` (labels: to ``labels_root`` when given); labels
    decoded with ``encoding``.

    ``rgb`` labels are decoded with ``palette`` (the dataset's own) when given, else ``colors``.
    """

    def __init__(
        self,
        root: Path,
        pairs: Sequence[Pair],
        *,
        encoding: LabelEncoding = LabelEncoding.IDS8,
        colors: dict[int, str] | None = None,
        known_values: Sequence[int] | None = None,
        use_labels: bool = True,
        palette: Palette | None = None,
        labels_root: Path | None = None,
    ) -> None:
        self.root = Path(root)
        self.labels_root = Path(labels_root) if labels_root is not None else self.root
        self.pairs = list(pairs)
        self.encoding = LabelEncoding(encoding)
        self.colors = colors
        self.palette = palette
        self.known_values = np.asarray(sorted(known_values), dtype=np.int64) if known_values else None
        self.use_labels = use_labels

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        pair = self.pairs[index]
        try:
            return self._load(index, pair)
        except DataFileError as exc:
            return Sample(index=index, pair=pair, error=str(exc))

    def _load(self, index: int, pair: Pair) -> Sample:
        image = read_image(self.root / pair.image, pair.image)
        if not self.use_labels or pair.label is None:
            return Sample(index=index, pair=pair, image=image)
        decoded = read_label(
            self.labels_root / pair.label, pair.label, self.encoding, self.colors, self.palette
        )
        if decoded.values.shape != image.shape[:2]:
            raise DataFileError(
                pair.label,
                f"label size {decoded.values.shape} != image size {image.shape[:2]} ({pair.image})",
            )
        warnings: list[str] = []
        if decoded.unknown_color_pixels:
            warnings.append(
                f"{decoded.unknown_color_pixels} pixels of unknown colours {list(decoded.unknown_colors)} "
                "treated as void"
            )
        n_unknown = 0
        if self.known_values is not None:
            mask = unknown_value_mask(decoded.values, self.known_values) & (decoded.values >= 0)
            n_unknown = int(mask.sum())
            if n_unknown:
                bad = np.unique(decoded.values[mask])[:10].tolist()
                warnings.append(f"{n_unknown} pixels with values {bad} not in the taxonomy treated as void")
        return Sample(
            index=index,
            pair=pair,
            image=image,
            values=decoded.values,
            unknown_value_pixels=n_unknown,
            unknown_color_pixels=decoded.unknown_color_pixels,
            warnings=tuple(warnings),
        )


def size_batches(
    root: Path, pairs: Sequence[Pair], batch_size: int, max_pixels: int | None = None
) -> tuple[list[list[int]], dict[int, str]]:
    """Group pair indices by image size (header read only) into batches of at most ``batch_size``
    images and (when given) at most ``max_pixels`` pixels, though never fewer than one image.

    Returns:
        (batches in first-appearance order of each size, {index: error} for unreadable headers).
    """
    groups: dict[tuple[int, int], list[int]] = {}
    errors: dict[int, str] = {}
    for i, pair in enumerate(pairs):
        try:
            groups.setdefault(image_size(root / pair.image, pair.image), []).append(i)
        except DataFileError as exc:
            errors[i] = str(exc)
    batches: list[list[int]] = []
    for (height, width), idx in groups.items():
        n = batch_size if max_pixels is None else max(1, min(batch_size, max_pixels // (height * width)))
        batches.extend(idx[s : s + n] for s in range(0, len(idx), n))
    return batches, errors


def _collate(samples: list[Sample]) -> list[Sample]:
    return samples


def iterate_batches(
    dataset: PairDataset, batches: list[list[int]], num_workers: int = 0
) -> Iterator[list[Sample]]:
    """Decoded batches in order; decoding runs in ``num_workers`` processes ahead of the consumer."""
    if not batches:
        return iter(())
    loader: DataLoader[Sample] = DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=_collate,
        num_workers=num_workers,
        prefetch_factor=4 if num_workers > 0 else None,
        persistent_workers=False,
    )
    return iter(loader)


def stack_images(samples: Sequence[Sample], device: torch.device | str) -> torch.Tensor:
    """``(B, 3, H, W)`` uint8 tensor on ``device`` from samples of equal size."""
    arr = np.stack([s.image for s in samples if s.image is not None])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous().to(device)
