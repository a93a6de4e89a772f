"""Compile a mapping into the dataset priors the workers apply: allowed matrix and hard lookup table.

Pure layer (numpy). ``worker.ml.priors`` turns these arrays into tensors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from app.domain.errors import InvalidInput
from app.domain.mapping import VOID, OntologyMapping
from app.domain.taxonomy import NO_PIXEL, Taxonomy


@dataclass(frozen=True, slots=True)
class CompiledPriors:
    """Priors indexed by source pixel value.

    Attributes:
        allowed: bool array (L, N+1). Row v says which target channels a pixel of source value v may
            take; column N is the void channel. Row L-1 is the "unknown value" row (void only);
            values of no label, and labels in no edge, are void only too.
        lut: uint8 array (L,). Hard mapping: the target class when exactly one channel is allowed
            and it is not void, else 255 (void or ambiguous).
        num_classes: N, the number of real target classes.
        any_class_values: the dataset's "any class allowed" pixel values (:meth:`with_any_class`):
            their rows allow every real class and not void.
    """

    allowed: np.ndarray
    lut: np.ndarray
    num_classes: int
    any_class_values: tuple[int, ...] = ()

    @property
    def unknown_row(self) -> int:
        return int(self.allowed.shape[0] - 1)

    @property
    def void_channel(self) -> int:
        return self.num_classes

    def index_of(self, values: np.ndarray) -> np.ndarray:
        """Row index for each pixel value: values outside 0..L-2 go to the unknown row.

        Args:
            values: integer array of any shape (source pixel values).
        Returns:
            int64 array of the same shape.
        """
        v = np.asarray(values).astype(np.int64, copy=False)
        return np.where((v >= 0) & (v < self.unknown_row), v, self.unknown_row)

    def with_any_class(self, values: Iterable[int]) -> CompiledPriors:
        """These priors with ``values`` allowed every real target class (not void), e.g. an ego-vehicle mask.

        A pixel of such a value takes the teacher's arg-max over the N classes. Its row allows N
        channels, so the lookup table gives 255 (ambiguous) there. Values past the last row get rows
        of their own (the unknown row stays last). No values: ``self`` unchanged.
        """
        extra = sorted({int(v) for v in values})
        if not extra:
            return self
        if extra[0] < 0:
            raise InvalidInput(f"pixel value {extra[0]} is negative", field="any_class_values")
        rows = max(self.allowed.shape[0], extra[-1] + 2)
        allowed = np.zeros((rows, self.num_classes + 1), dtype=bool)
        allowed[:, self.num_classes] = True
        lut = np.full(rows, VOID, dtype=np.uint8)
        known = self.unknown_row
        allowed[:known], lut[:known] = self.allowed[:known], self.lut[:known]
        allowed[extra] = True
        allowed[extra, self.num_classes] = False
        lut[extra] = VOID
        allowed.setflags(write=False)
        lut.setflags(write=False)
        merged = tuple(sorted({*self.any_class_values, *extra}))
        return CompiledPriors(allowed=allowed, lut=lut, num_classes=self.num_classes, any_class_values=merged)

    def hard_map(self, values: np.ndarray) -> np.ndarray:
        """Map a source label array to target ids with the lookup table (uint8, 255 = ignore)."""
        mapped: np.ndarray = self.lut[self.index_of(values)]
        return mapped


def compile_priors(mapping: OntologyMapping, source: Taxonomy, target: Taxonomy) -> CompiledPriors:
    """Build the allowed matrix and lookup table of ``mapping`` from ``source`` to ``target``.

    Edges naming labels the source lacks are ignored here (the validation report names them);
    edges to class ids the target lacks raise InvalidInput.
    """
    if not target.is_class_list():
        raise InvalidInput(f"target taxonomy {target.name!r} must have class ids 0..N-1", field="target")
    n = target.num_classes
    if n >= VOID:
        raise InvalidInput(f"target taxonomy {target.name!r} has {n} classes; at most 254 are supported")
    max_value = max([lb.value for lb in source.labels if lb.value != NO_PIXEL], default=0)
    rows = max(256, max_value + 1) + 1
    allowed = np.zeros((rows, n + 1), dtype=bool)
    allowed[:, n] = True
    lut = np.full(rows, VOID, dtype=np.uint8)
    for lb in source.labels:
        targets = mapping.targets_of(lb.name)
        if lb.value == NO_PIXEL or not targets:
            continue
        bad = [t for t in targets if t != VOID and t >= n]
        if bad:
            raise InvalidInput(
                f"{lb.name!r} maps to class ids {bad} outside target {target.name!r} (0..{n - 1})",
                field="edges",
            )
        channels = [n if t == VOID else t for t in targets]
        allowed[lb.value] = False
        allowed[lb.value, channels] = True
        if len(channels) == 1 and channels[0] != n:
            lut[lb.value] = channels[0]
    allowed.setflags(write=False)
    lut.setflags(write=False)
    return CompiledPriors(allowed=allowed, lut=lut, num_classes=n)
