"""Provenance records written next to every output (worker.ml layer)."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

import torch
import transformers

from worker.ml.checkpoints import LoadedModel
from worker.ml.config import InferenceConfig
from worker.ml.tta import View


def package_version() -> str:
    try:
        return metadata.version("unilabel")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def run_provenance(
    teacher: LoadedModel,
    inference: InferenceConfig,
    views: Sequence[View],
    *,
    mapping_hash: str | None,
) -> dict[str, Any]:
    """Model checksum, mapping hash, TTA views, normalisation, versions and device of a run."""
    return {
        "model": {
            "source": teacher.source,
            "spec": teacher.spec,
            "checksum": teacher.checksum,
            "num_classes": teacher.num_classes,
        },
        "class_names": list(teacher.class_names),
        "mapping_hash": mapping_hash,
        "tta_views": [v.name for v in views],
        # What was asked; how each view of each image actually ran is in ``tta_view_runs`` (and,
        # per image, in the manifest's ``tta`` list).
        "tta_upscaled_views": "sliding windows" if inference.windows.slide else "whole",
        "tta_window_overlap": inference.windows.overlap,
        "tta_memory_budget_bytes": inference.windows.budget_bytes,
        "normalization": teacher.normalization.to_json(),
        "device": inference.device,
        "batch_size": inference.batch_size,
        "versions": {
            "unilabel": package_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
    }
