"""The multi-process path (accelerate + DDP over gloo) with 2 CPU processes.

Confusion matrices must be *summed* across processes: the 2-process matrix equals the
single-process one over the same images.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from worker.ml.modeling import IMAGENET_NORMALIZATION, build_mask2former, tiny_config
from worker.ml.train.run import make_accelerator
from worker.ml.train.validate import validate

from ._train_two_processes import five_image_val_set
from .test_train_loop import NAMES, _config

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).with_name("_train_two_processes.py")
REPO_ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _single_process_confusion(tmp_path: Path) -> tuple[np.ndarray, float]:
    accelerator = make_accelerator(_config(tmp_path, cpu=True))
    torch.manual_seed(0)
    model = build_mask2former(tiny_config(dict(enumerate(NAMES))))
    result = validate(accelerator, model, [five_image_val_set()], IMAGENET_NORMALIZATION, NAMES)
    return result.confusion["val"], result.pooled["loss"]


@pytest.mark.timeout(600)
def test_two_cpu_processes_sum_confusion_matrices_and_train(tmp_path: Path) -> None:
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available in this build")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        str(SCRIPT),
        str(tmp_path / "mp"),
    ]
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stderr[-4000:]
    payload = json.loads((tmp_path / "mp" / "rank0.json").read_text())
    assert payload["num_processes"] == 2 and "MULTI_CPU" in payload["distributed_type"]
    expected, expected_loss = _single_process_confusion(tmp_path)
    assert np.array_equal(np.asarray(payload["confusion"]), expected)
    assert int(expected.sum()) == 5 * 48 * 64 - 5 * 4 * 64  # every real image once, void rows skipped
    # Mask2Former normalises its loss by the mask count averaged over processes, so the
    # validation loss is close to, not equal to, the single-process value.
    assert np.isfinite(payload["loss"]) and expected_loss > 0
    assert payload["final_step"] == 2 and payload["best_step"] == 2
