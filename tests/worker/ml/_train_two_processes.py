"""Run by test_train_multiprocess.py under ``torch.distributed.run --nproc_per_node 2`` (gloo, CPU),
from the repository root with it on ``PYTHONPATH``.

Each process validates a fixed tiny model on 5 images (3 for rank 0, 2 real + 1 padding pass for
rank 1) and trains 2 iterations under DDP; rank 0 writes what it saw to ``<out>/rank0.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from tests.worker.ml.test_train_loop import NAMES, _config, _scenes, _sets
from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config
from worker.ml.train import ArrayPairs, LabeledSet, train
from worker.ml.train.run import make_accelerator
from worker.ml.train.validate import validate


def five_image_val_set() -> LabeledSet:
    """An odd count, so that rank 1 runs one discarded padding pass."""
    scenes = _scenes(5, 1)
    return LabeledSet("val", ArrayPairs(scenes.images, scenes.labels), kind="pseudo_labels")


def main(out: Path) -> None:
    torch.set_num_threads(1)
    config = _config(out, max_iterations=2, cpu=True, val_every=2)
    accelerator = make_accelerator(config)
    torch.manual_seed(0)
    model = build_mask2former(tiny_config(dict(enumerate(NAMES))))
    train_sets, _ = _sets()
    val_sets = [five_image_val_set()]
    result = validate(accelerator, model, val_sets, IMAGENET_NORMALIZATION, NAMES)
    trained = train(config, train_sets, val_sets, accelerator=accelerator)
    if accelerator.is_main_process:
        state = {k: v.tolist() for k, v in model.state_dict().items() if k.endswith("class_predictor.weight")}
        payload = {
            "num_processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type),
            "confusion": result.confusion["val"].tolist(),
            "loss": result.pooled["loss"],
            "final_step": trained.final_step,
            "best_step": trained.best_step,
            "weights": state,
        }
        (out / "rank0.json").write_text(json.dumps(payload))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
