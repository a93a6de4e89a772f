"""Where training metrics go: ``metrics.jsonl``, TensorBoard event files and an ``on_metrics`` callback.

worker.ml layer. Only the main process writes; every record is one JSON object per line::

    {"step": 120, "kind": "train", "time": 1732570000.0, "train/loss": 31.2, "lr/rest": 1e-4, ...}
    {"step": 120, "kind": "val", "val/miou": 0.41, "val/source/miou": 0.44, ...,
     "per_set": {...}, "per_class_iou": [...]}

On resume, records after the resumed step are dropped from ``metrics.jsonl`` and purged from
TensorBoard, so curves never contain the iterations that were redone.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MetricsCallback = Callable[[int, dict[str, Any]], None]
METRICS_FILE = "metrics.jsonl"


class MetricsRecorder:
    """Fan-out of metric records (JSON lines + TensorBoard + callback) on the main process."""

    def __init__(
        self,
        output_dir: Path,
        *,
        enabled: bool,
        on_metrics: MetricsCallback | None = None,
        resume_step: int = 0,
        tensorboard: bool = True,
    ) -> None:
        self.path = output_dir / METRICS_FILE
        self.enabled = enabled
        self.on_metrics = on_metrics
        self._writer: Any = None
        if not enabled:
            return
        output_dir.mkdir(parents=True, exist_ok=True)
        truncate_records(self.path, after_step=resume_step)
        if tensorboard:
            self._writer = _summary_writer(output_dir / "tensorboard", purge_step=resume_step or None)

    def record(self, step: int, kind: str, values: dict[str, Any]) -> None:
        """Write one record; scalar entries also go to TensorBoard."""
        if not self.enabled:
            return
        record = {"step": step, "kind": kind, "time": time.time(), **_finite(values)}
        with self.path.open("a") as fh:
            fh.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")
        if self._writer is not None:
            for key, value in values.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                    self._writer.add_scalar(key, value, global_step=step)
            self._writer.flush()
        if self.on_metrics is not None:
            self.on_metrics(step, record)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records of a ``metrics.jsonl`` (a torn last line from a crash is skipped)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_records(path: Path, *, after_step: int) -> None:
    """Keep only records with ``step <= after_step`` (atomic rewrite)."""
    if not path.is_file():
        return
    kept = [r for r in read_records(path) if int(r.get("step", 0)) <= after_step]
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
    os.replace(tmp, path)


def _finite(value: Any) -> Any:
    """Non-finite floats become None (strict JSON, readable by browsers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _summary_writer(log_dir: Path, purge_step: int | None) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional at run time
        logger.warning("tensorboard is not installed; writing metrics.jsonl only")
        return None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
