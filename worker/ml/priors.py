"""Dataset priors on tensors: the prior-constrained argmax of teacher scores (worker.ml layer).

``app.domain.priors`` compiles a mapping into an allowed matrix ``A`` of shape ``(L, N+1)``
indexed by source pixel value (column N = void). Here ``A`` becomes tensors and is applied to class
scores by gathers over the whole batch -- never a loop over labels. (The paper's code builds one
boolean mask per source label and per allowed class; ``benchmarks/bench_priors.py`` compares.)
The literal formula, ``allowed = A[index]`` then a masked argmax, is
:func:`constrained_argmax_dense`; :func:`constrained_argmax` computes the same labels without
materialising an ``(N+1) x H x W`` mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from app.domain.label_codec import void_value

ANY_CLASS = -2
"""``PriorTensors.single`` of a row that allows every real class and not void (a dataset's
any-class pixel values): those pixels take the teacher's plain arg-max over the N classes."""


@dataclass(frozen=True, slots=True)
class PriorTensors:
    """The compiled priors moved to a device.

    Attributes:
        allowed: ``(L, N+1)`` bool; row = source index (``compiled.index_of(value)``).
        single: ``(L,)`` int16, the only allowed channel of a row, -1 when a row allows several, or
            :data:`ANY_CLASS` when it allows every real class and not void (int16: a mapping has at
            most 254 target classes, and small integers are cheaper to move).
        choices: ``(L, K)`` int64, each row's allowed channels in ascending order, padded by
            repeating the last one (K = the largest allowed-set size of the -1 rows, so an any-class
            row does not widen every ambiguous pixel's gather to N).
        choice_valid: ``(L, K)`` bool, False on the padding.
        num_classes: N (the void channel is index N).
        has_any_class: some row is an any-class row.
    """

    allowed: torch.Tensor
    single: torch.Tensor
    choices: torch.Tensor
    choice_valid: torch.Tensor
    num_classes: int
    has_any_class: bool = False

    @classmethod
    def from_compiled(cls, compiled: Any, device: str | torch.device = "cpu") -> PriorTensors:
        allowed = np.asarray(compiled.allowed, dtype=bool).copy()
        # A row that allows nothing would make the masked argmax meaningless: allow void there.
        allowed[~allowed.any(axis=1), -1] = True
        n = allowed.shape[1] - 1
        counts = allowed.sum(axis=1)
        any_class = (counts > 1) & allowed[:, :n].all(axis=1) & ~allowed[:, n]
        single = np.where(counts == 1, allowed.argmax(axis=1), -1)
        single = np.where(any_class, ANY_CLASS, single).astype(np.int16)
        k = int(counts[~any_class].max(initial=1))
        counts = np.minimum(counts, k)  # any-class rows: their padding is never read
        # Stable sort puts allowed channels first, in ascending order (ties -> lowest index).
        order = np.argsort(~allowed, axis=1, kind="stable")[:, :k]
        valid = np.arange(k)[None, :] < counts[:, None]
        last = order[np.arange(len(order)), counts - 1]
        choices = np.where(valid, order, last[:, None]).astype(np.int64)
        return cls(
            allowed=torch.from_numpy(allowed).to(device),
            single=torch.from_numpy(single).to(device),
            choices=torch.from_numpy(choices).to(device),
            choice_valid=torch.from_numpy(valid).to(device),
            num_classes=n,
            has_any_class=bool(any_class.any()),
        )


@dataclass(frozen=True, slots=True)
class ConstrainedLabels:
    """Outputs of :func:`constrained_argmax`, all ``(B, H, W)``.

    Attributes:
        labels: int64 class ids, void pixels = :func:`void_value` (255 for N <= 255).
        channel: int64 winning channel 0..N (N = void) -- the value histograms are built from.
        confidence: float32 ``S[label] / sum_{c in A} S[c]`` (0 where that sum is 0).
        corrected: bool, a real class was chosen whose score is below the teacher's best real-class
            score, i.e. the priors changed the teacher's plain argmax (exact score ties count as
            agreement). Always False in no-prior mode.
    """

    labels: torch.Tensor
    channel: torch.Tensor
    confidence: torch.Tensor
    corrected: torch.Tensor


def constrained_argmax(
    scores: torch.Tensor, source_index: torch.Tensor | None, priors: PriorTensors | None
) -> ConstrainedLabels:
    """Pseudo-labels ``argmax_{c in A(g)} S[c]``; ties go to the lowest channel index.

    Args:
        scores: ``(B, N+1, H, W)`` non-negative class scores (channel N = void).
        source_index: ``(B, H, W)`` int64 rows of ``priors.allowed`` (``index_of(g)``), or None.
        priors: the allowed matrix; None = no-prior mode (argmax over the N real classes).

    Returns:
        :class:`ConstrainedLabels`.
    """
    n = scores.shape[1] - 1
    if priors is None or source_index is None:
        # One pass: max(dim) returns the first maximal index, as argmax does.
        real_best, channel = scores[:, :n].max(dim=1)
        top, denom = real_best, scores[:, :n].sum(dim=1)
        corrected = torch.zeros_like(channel, dtype=torch.bool)
    else:
        if priors.num_classes != n:
            raise ValueError(f"priors have {priors.num_classes} classes, the teacher has {n}")
        real_best = scores[:, :n].amax(dim=1)
        channel, top, denom = _masked_argmax(scores, source_index, priors)
        corrected = (channel != n) & (top < real_best)
    confidence = torch.where(denom > 0, top / denom.clamp_min(1e-12), torch.zeros_like(top))
    labels = torch.where(channel == n, torch.full_like(channel, void_value(n)), channel)
    return ConstrainedLabels(labels=labels, channel=channel, confidence=confidence, corrected=corrected)


def source_rows(values: np.ndarray, compiled: Any) -> np.ndarray:
    """``compiled.index_of(values)``, skipping the clamp for 8-bit labels when every value has a row."""
    if values.dtype == np.uint8 and compiled.allowed.shape[0] > 256:
        return values
    return np.asarray(compiled.index_of(values))


def _flat_nonzero(mask: torch.Tensor) -> torch.Tensor:
    """Flat int64 positions of True in a 1-D bool tensor (numpy's is several times faster on CPU)."""
    if mask.device.type == "cpu":
        return torch.from_numpy(np.flatnonzero(mask.numpy()))
    return mask.nonzero().squeeze(1)


def _ambiguous_argmax(
    scores: torch.Tensor, source_index: torch.Tensor, priors: PriorTensors, *, with_sums: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Winning channels ``(B, H, W)``; plus, for the K pixels of several-channel rows, their flat
    positions ``(K,)`` and the sum of their allowed channels' scores ``(K,)`` (None unless ``with_sums``).

    Rows with one allowed channel (single-target labels, void-only rows) are labelled by one gather of
    ``single``; pixels of ambiguous rows gather only their allowed channels (``choices``, ascending,
    so ties go to the lowest index); pixels of any-class rows gather the N real channels. Same result
    as masking every pixel with ``A[index]`` (:func:`constrained_argmax_dense`) without
    materialising a ``(B, N+1, H, W)`` mask.
    """
    flat_rows = source_index.reshape(-1)
    if flat_rows.dtype not in (torch.int32, torch.int64):
        flat_rows = flat_rows.int()  # e.g. uint8 rows straight from 8-bit labels
    channel = priors.single.index_select(0, flat_rows)  # (B*H*W,)
    pos = _flat_nonzero(channel == -1)
    rows = flat_rows.index_select(0, pos)
    choices = priors.choices.index_select(0, rows)  # (K, k)
    s = _take(scores, pos, choices)  # (K, k)
    best = s.argmax(dim=1, keepdim=True)
    channel.index_copy_(0, pos, choices.gather(1, best).squeeze(1).to(channel.dtype))
    sums = None
    if with_sums:
        zero = torch.zeros((), dtype=s.dtype, device=s.device)
        sums = torch.where(priors.choice_valid.index_select(0, rows), s, zero).sum(1)
    if priors.has_any_class:
        any_pos = _flat_nonzero(channel == ANY_CLASS)
        real = torch.arange(priors.num_classes, device=channel.device).expand(len(any_pos), -1)
        s_any = _take(scores, any_pos, real)  # (K', N)
        channel.index_copy_(0, any_pos, s_any.argmax(dim=1).to(channel.dtype))
        pos = torch.cat([pos, any_pos])
        sums = None if sums is None else torch.cat([sums, s_any.sum(1)])
    return channel.view(source_index.shape), pos, sums


def _take(scores: torch.Tensor, pos: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """``(K, k)`` scores of flat pixel positions ``pos`` ``(K,)`` at ``channels`` ``(K, k)``."""
    b, c, h, w = scores.shape
    # Flat offset of (image, channel, pixel) in the (B, C, H, W) scores: pos + image*(C-1)*HW + channel*HW.
    base = pos if b == 1 else pos + torch.div(pos, h * w, rounding_mode="floor") * ((c - 1) * h * w)
    return scores.reshape(-1).take(channels * (h * w) + base.unsqueeze(1))


def _masked_argmax(
    scores: torch.Tensor, source_index: torch.Tensor, priors: PriorTensors
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(channel, S[channel], sum of the allowed S), each ``(B, H, W)``."""
    channel, pos, sums = _ambiguous_argmax(scores, source_index, priors)
    assert sums is not None
    channel = channel.long()
    top = scores.gather(1, channel.unsqueeze(1)).squeeze(1)
    denom = top.clone()
    denom.view(-1).index_copy_(0, pos, sums)
    return channel, top, denom


def constrained_channels(
    scores: torch.Tensor, source_index: torch.Tensor, priors: PriorTensors
) -> torch.Tensor:
    """Only the winning channels ``(B, H, W)`` (0..N, N = void) of the prior-constrained argmax."""
    return _ambiguous_argmax(scores, source_index, priors, with_sums=False)[0]


def constrained_argmax_dense(
    scores: torch.Tensor, source_index: torch.Tensor, priors: PriorTensors
) -> torch.Tensor:
    """The literal formula: ``allowed = A[index]`` for every pixel, masked argmax; ``(B, H, W)`` channels.

    Same result as :func:`constrained_argmax` (tests check it); kept as the readable specification.
    """
    allowed = priors.allowed[source_index].movedim(-1, 1)  # (B, N+1, H, W)
    return scores.masked_fill(~allowed, float("-inf")).argmax(dim=1)


def apply_threshold(result: ConstrainedLabels, threshold: float | None, num_classes: int) -> torch.Tensor:
    """``(B, H, W)`` labels with pixels of confidence below ``threshold`` set to void."""
    if threshold is None or threshold <= 0:
        return result.labels
    void = torch.full_like(result.labels, void_value(num_classes))
    return torch.where(result.confidence < threshold, void, result.labels)


def value_histogram(
    source_index: torch.Tensor, channel: torch.Tensor, rows: int, channels: int
) -> torch.Tensor:
    """``(rows, channels)`` int64 counts of (source row, output channel) pairs, by one bincount.

    Args:
        source_index: ``(H, W)`` int64 source rows.
        channel: ``(H, W)`` int64 output channel 0..N (N = void, thresholded pixels included).
    """
    flat = source_index.reshape(-1) * channels + channel.reshape(-1)
    return torch.bincount(flat, minlength=rows * channels).reshape(rows, channels)


def reference_constrained_argmax(scores: np.ndarray, values: np.ndarray, compiled: Any) -> np.ndarray:
    """Plain per-pixel reference (slow, for tests): ``(N+1, H, W)`` scores, ``(H, W)`` values -> labels."""
    n = scores.shape[0] - 1
    out = np.empty(values.shape, dtype=np.int64)
    rows = compiled.index_of(values)
    for y in range(values.shape[0]):
        for x in range(values.shape[1]):
            allowed = np.flatnonzero(compiled.allowed[rows[y, x]])
            if allowed.size == 0:
                allowed = np.array([n])
            best = allowed[int(np.argmax(scores[allowed, y, x]))]
            out[y, x] = void_value(n) if best == n else best
    return out
