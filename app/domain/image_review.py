"""Per-image review of a pseudo-label run (pure layer): decisions, staleness, bulk rules, snapshots.

A reviewer accepts, rejects or flags each image of a run. A decision is stored with the sha256 of
the image's pseudo-label file as it was when decided (``label_hash``). A re-run that writes the
same label keeps the decision; one that changes the label makes it *stale*: it then counts and
filters as unreviewed, and does not exclude the image from training, until someone decides again.

Bulk rejection by rule (:class:`BulkRule`): images whose correction rate or void share is above a
threshold. Only images without a current decision are rejected by a rule: a person's decision
(accepted, flagged or rejected) is never overridden by one.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.domain.errors import InvalidInput

ACCEPTED, REJECTED, FLAGGED, UNREVIEWED = "accepted", "rejected", "flagged", "unreviewed"
DECISIONS = (ACCEPTED, REJECTED, FLAGGED)
STATES = (*DECISIONS, UNREVIEWED)  # what a gallery filter and the counts use
NOTE_MAX = 2000


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision as stored: what, on which label content, and its compare-and-set version."""

    decision: str
    label_hash: str
    version: int


def check_decision(decision: str) -> None:
    if decision not in DECISIONS:
        raise InvalidInput(
            f"decision must be one of {', '.join(DECISIONS)}, not {decision!r}", field="decision"
        )


def check_state(state: str, field: str = "decision") -> None:
    if state not in STATES:
        raise InvalidInput(f"{field} must be one of {', '.join(STATES)}, not {state!r}", field=field)


def state_of(stored: StoredDecision | None, current_hash: str | None) -> str:
    """The image's review state now: its decision while its label is unchanged, else unreviewed."""
    if stored is None or current_hash is None or stored.label_hash != current_hash:
        return UNREVIEWED
    return stored.decision


def is_stale(stored: StoredDecision | None, current_hash: str | None) -> bool:
    """A decision was made on a label that has changed (or gone) since."""
    return stored is not None and stored.label_hash != current_hash


def count_states(states: Iterable[str]) -> dict[str, int]:
    """Images per state, every state present (0 included), in :data:`STATES` order."""
    counts = Counter(states)
    return {s: counts.get(s, 0) for s in STATES}


@dataclass(frozen=True, slots=True)
class BulkRule:
    """Reject images whose correction rate is above ``correction_above`` or whose void share is above
    ``void_above`` (either threshold may be left out, not both; both are shares in 0..1)."""

    correction_above: float | None = None
    void_above: float | None = None

    def __post_init__(self) -> None:
        if self.correction_above is None and self.void_above is None:
            raise InvalidInput(
                "a bulk rule needs correction_above or void_above (or both)", field="correction_above"
            )
        for name in ("correction_above", "void_above"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise InvalidInput(f"{name} is a share between 0 and 1, not {value}", field=name)

    def matches(self, correction_rate: float | None, void_fraction: float | None) -> bool:
        by_rate = self.correction_above is not None and correction_rate is not None
        by_void = self.void_above is not None and void_fraction is not None
        return bool(
            (by_rate and correction_rate > self.correction_above)  # type: ignore[operator]
            or (by_void and void_fraction > self.void_above)  # type: ignore[operator]
        )

    def describe(self) -> str:
        parts = []
        if self.correction_above is not None:
            parts.append(f"correction rate above {self.correction_above:.0%}")
        if self.void_above is not None:
            parts.append(f"void share above {self.void_above:.0%}")
        return " or ".join(parts)


def snapshot_hash(rejected: Mapping[str, str]) -> str:
    """sha256 over the rejected images and their label hashes ({image: label hash}), order-free:
    the same decisions on the same labels give the same hash (recorded in training provenance)."""
    digest = hashlib.sha256()
    for image in sorted(rejected):
        digest.update(f"{image}\t{rejected[image]}\n".encode())
    return digest.hexdigest()
