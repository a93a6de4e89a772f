"""Job kinds, statuses and their allowed transitions; the progress protocol ML code reports through."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class JobKind(StrEnum):
    PSEUDO_LABEL = "pseudo_label"
    EVALUATE = "evaluate"
    SCAN_DATASET = "scan_dataset"
    TRAIN = "train"
    SURVEY = "survey"  # a teacher without priors on a dataset sample: evidence for mappings
    CONVERT_LABELS = "convert_labels"  # native labels (polygons, panoptic) to label-id PNGs, once
    EXPORT = "export"  # a run's labels as a zip in a tool's layout (issue 14)
    LABEL_IMPORT = "label_import"  # corrected masks imported back: a new label-set version of a run


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED}),
    # RUNNING -> QUEUED happens when a killed worker's task is redelivered.
    JobStatus.RUNNING: frozenset(
        {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.QUEUED, JobStatus.RUNNING}
    ),
    # A failed or cancelled job may be retried (re-queued); it then resumes from what exists.
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
    JobStatus.SUCCEEDED: frozenset(),
}


def can_transition(current: JobStatus, new: JobStatus) -> bool:
    """Whether a job may move from ``current`` to ``new``."""
    return new in _TRANSITIONS[current]


@dataclass(frozen=True, slots=True)
class Progress:
    """A progress report: ``current`` of ``total`` units done (total 0 = unknown)."""

    current: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.current / self.total)


class ProgressCallback(Protocol):
    def __call__(self, progress: Progress, /) -> None: ...
