"""Peak memory of one call (worker.ml layer): CUDA allocator statistics on a GPU, the process's
resident high-water mark on a Linux CPU. The TTA memory budget calibrates itself with it."""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def _status_bytes(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(field_name)


def _release_free_heap() -> None:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``), so that a forward pass that
    reuses them shows in the resident high-water mark; a no-op without glibc."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measure_peak(run: Callable[[], Any], device: torch.device) -> tuple[Any, int]:
    """``run()`` and its peak memory above the start: CUDA allocator statistics on a GPU; on a
    Linux CPU the process's resident high-water mark (reset through ``/proc/self/clear_refs``,
    after the free heap is released); 0 where neither is available."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        out = run()
        torch.cuda.synchronize(device)
        return out, int(torch.cuda.max_memory_allocated(device) - base)
    try:
        _release_free_heap()
        Path("/proc/self/clear_refs").write_text("5")
        base = _status_bytes("VmRSS")
    except OSError:
        return run(), 0
    out = run()
    return out, max(0, _status_bytes("VmHWM") - base)
