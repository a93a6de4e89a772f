"""Crash-safe training checkpoints and exact resume (worker.ml layer).

Layout under ``<output_dir>/checkpoints/``::

    step-000120/                 one complete training checkpoint
        model/                   unilabel checkpoint folder (weights, config, class list, normalisation)
        training_state.pt        optimizer, scheduler, trainer state (step, best fitness, patience)
        rng/rank-<r>.pt          torch / CUDA / numpy / python RNG of every process
    last.json                    {"step": 120, "path": "step-000120"}: the newest complete checkpoint
    best/                        unilabel model folder of the best validation (no optimizer)
    best.json                    {"step": ..., "fitness": ..., "metrics": {...}}

A checkpoint is written into ``.step-000120.tmp`` and renamed when complete; only then does
``last.json`` (itself replaced atomically) point at it. A crash at any moment leaves the previous
``last.json`` valid; stale temporary and superseded folders are removed at the next save.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from accelerate import Accelerator

from worker.ml.checkpoints import load_model, save_checkpoint
from worker.ml.modeling import Normalization

LAST_POINTER = "last.json"
BEST_POINTER = "best.json"


@dataclass(slots=True)
class TrainerState:
    """What the loop needs besides model, optimizer and scheduler to continue exactly."""

    step: int = 0
    total_iterations: int = 0
    iterations_per_epoch: int = 0
    best_fitness: float | None = None
    best_step: int | None = None
    validations_without_improvement: int = 0


@dataclass(slots=True)
class CheckpointContext:
    """Everything a checkpoint save needs, fixed for the run."""

    accelerator: Accelerator
    root: Path  # <output_dir>/checkpoints
    class_names: tuple[str, ...]
    normalization: Normalization
    provenance: dict[str, Any]


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def save_training_checkpoint(
    ctx: CheckpointContext, model: torch.nn.Module, optimizer: Any, scheduler: Any, state: TrainerState
) -> Path:
    """Write a complete checkpoint of ``state.step`` (collective: every process must call it)."""
    acc = ctx.accelerator
    name = f"step-{state.step:06d}"
    tmp = ctx.root / f".{name}.tmp"
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "rng").mkdir(parents=True)
    acc.wait_for_everyone()
    torch.save(_rng_state(), tmp / "rng" / f"rank-{acc.process_index}.pt")
    acc.wait_for_everyone()
    final = ctx.root / name
    if acc.is_main_process:
        save_checkpoint(
            acc.unwrap_model(model),
            tmp / "model",
            class_names=ctx.class_names,
            normalization=ctx.normalization,
            provenance={**ctx.provenance, "step": state.step},
        )
        payload = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "trainer": asdict(state),
        }
        torch.save(payload, tmp / "training_state.pt")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        write_json_atomic(ctx.root / LAST_POINTER, {"step": state.step, "path": name})
        _prune(ctx.root, keep=name)
    acc.wait_for_everyone()
    return final


def save_best_model(
    ctx: CheckpointContext, model: torch.nn.Module, step: int, metrics: dict[str, Any]
) -> Path:
    """Replace ``checkpoints/best`` with the current weights (main process; atomic folder swap)."""
    best = ctx.root / "best"
    if ctx.accelerator.is_main_process:
        save_checkpoint(
            ctx.accelerator.unwrap_model(model),
            best,
            class_names=ctx.class_names,
            normalization=ctx.normalization,
            provenance={**ctx.provenance, "step": step, "validation": metrics},
        )
        write_json_atomic(ctx.root / BEST_POINTER, {"step": step, "path": "best", "metrics": metrics})
    ctx.accelerator.wait_for_everyone()
    return best


def last_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint folder, or None."""
    pointer = root / LAST_POINTER
    if not pointer.is_file():
        return None
    folder = root / json.loads(pointer.read_text())["path"]
    return folder if (folder / "training_state.pt").is_file() else None


def load_training_checkpoint(
    folder: Path,
    accelerator: Accelerator,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    class_names: tuple[str, ...],
) -> TrainerState:
    """Restore model, optimizer, scheduler and this process's RNG; return the trainer state.

    Raises:
        ValueError: the checkpoint was trained for other classes than ``class_names``.
    """
    saved = load_model(folder / "model")
    if saved.class_names != tuple(class_names):
        raise ValueError(
            f"{folder} belongs to a run with classes {list(saved.class_names)}, not {list(class_names)}; "
            "use another output folder or resume=False"
        )
    accelerator.unwrap_model(model).load_state_dict(saved.model.state_dict())
    payload = torch.load(folder / "training_state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    rng_file = folder / "rng" / f"rank-{accelerator.process_index}.pt"
    if not rng_file.is_file():
        raise FileNotFoundError(f"{rng_file} missing: resume with the same number of processes")
    _set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=True))
    return TrainerState(**payload["trainer"])


def _rng_state() -> dict[str, Any]:
    kind, key, pos, has_gauss, gauss = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])


def _prune(root: Path, keep: str) -> None:
    """Remove superseded and half-written step folders."""
    for child in root.iterdir():
        if child.is_dir() and child.name.lstrip(".").startswith("step-") and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)
