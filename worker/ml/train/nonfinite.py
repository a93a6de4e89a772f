"""Non-finite losses during training (worker.ml layer): detect on every process, count, give up.

A NaN or infinite loss on any process skips that optimizer step on all of them (the processes must
stay in step). :class:`NonFiniteGuard` counts the skipped steps and raises :class:`NonFiniteLoss`
with a clear message after ``limit`` of them in a row.
"""

from __future__ import annotations

import logging

import torch
from accelerate import Accelerator

logger = logging.getLogger(__name__)


class NonFiniteLoss(RuntimeError):
    """The loss was NaN or infinite for ``max_nonfinite_steps`` consecutive iterations."""


class NonFiniteGuard:
    """Counts skipped steps (``total``, and ``in_a_row``); raises after ``limit`` in a row."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.in_a_row = 0

    def observe(self, step: int, *, skipped: bool) -> None:
        """Record iteration ``step``; raises :class:`NonFiniteLoss` at the limit."""
        if not skipped:
            self.in_a_row = 0
            return
        self.total += 1
        self.in_a_row += 1
        logger.warning("Iteration %d: non-finite loss, optimizer step skipped", step)
        if self.in_a_row >= self.limit:
            raise NonFiniteLoss(
                f"training stopped at iteration {step}: the loss was NaN or infinite for {self.limit} "
                f"consecutive iterations ({self.total} skipped in all); lower the learning rates, "
                "check the training labels, or use a smaller crop (max_nonfinite_steps sets the limit)"
            )


def all_finite(acc: Accelerator, loss: torch.Tensor) -> bool:
    """Whether every process's ``loss`` is finite (a collective call under several processes)."""
    bad = torch.tensor([0.0 if bool(torch.isfinite(loss).all()) else 1.0], device=acc.device)
    if acc.num_processes > 1:
        bad = acc.reduce(bad, reduction="sum")
    return bool(bad.item() == 0)
