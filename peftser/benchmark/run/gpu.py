"""The CUDA side of a training, kept thin: the current device, native bf16, what a record says about
the GPU, peak GPU memory per phase, and what a worker does after each cell.

On any other device each of these does nothing (or returns None), so a training runs the same
code on the CPU and on a GPU. torch is imported only where used: the scheduler's parent process
reads CUDA error messages without it.
"""

from __future__ import annotations

import gc
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import torch

MB = 2**20

# Errors after which the process' CUDA context is unusable: every later kernel fails with them too.
STICKY_CUDA_ERRORS = (
    "illegal memory access", "device-side assert", "misaligned address", "unspecified launch failure",
    "illegal instruction", "uncorrectable ecc error", "hardware stack error",
)


def select(device: torch.device) -> None:
    """Make ``device`` the current CUDA device, so that nothing in the process (the loader's
    pinned-memory thread, a bare "cuda") creates a context on GPU 0 as well."""
    import torch

    if device.type == "cuda":
        torch.cuda.set_device(device)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: a GPU of compute capability 8.0 (Ampere) or later.
    torch.cuda.is_bf16_supported() counts emulation too (V100, T4), which is slower than fp32."""
    import torch

    return device.type == "cuda" and tuple(torch.cuda.get_device_capability(device)) >= (8, 0)


def gpu_settings(device: torch.device) -> dict[str, Any] | None:
    """What decides a GPU's results, for the run record: the GPU (its name, and which physical
    device it is: the worker's ``cuda:0`` is an entry of CUDA_VISIBLE_DEVICES), the CUDA and cuDNN
    versions, the TF32 and matmul-precision settings and whether deterministic algorithms were on.
    None on any other device."""
    import torch

    if device.type != "cuda":
        return None
    index = torch.cuda.current_device() if device.index is None else device.index
    props = torch.cuda.get_device_properties(index)
    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    uuid = getattr(props, "uuid", None)
    return {
        "name": props.name,
        "physical_device": visible[index] if index < len(visible) else str(index),
        "uuid": None if uuid is None else str(uuid),
        "compute_capability": f"{props.major}.{props.minor}",
        "total_memory_mb": round(props.total_memory / MB),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    }


class PeakMemory:
    """Peak allocated and reserved GPU memory (MB) per phase of a training (e.g. training and
    evaluation), each the largest over all of its passes; nothing on any other device.

    Reserved memory is what the caching allocator holds, the figure that decides how many trainings
    share a GPU; the CUDA context (a few hundred MB) comes on top of both.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.peaks: dict[str, dict[str, float]] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        import torch

        if self.device.type != "cuda":
            yield
            return
        torch.cuda.reset_peak_memory_stats(self.device)
        yield
        now = {
            "allocated": torch.cuda.max_memory_allocated(self.device) / MB,
            "reserved": torch.cuda.max_memory_reserved(self.device) / MB,
        }
        before = self.peaks.get(name, {})
        self.peaks[name] = {k: round(max(v, before.get(k, 0.0)), 1) for k, v in now.items()}

    def summary(self) -> dict[str, dict[str, float]] | None:
        """{phase: {"allocated": MB, "reserved": MB}} and the whole cell's ("cell"); None off the GPU."""
        if not self.peaks:
            return None
        cell = {k: max(p[k] for p in self.peaks.values()) for k in ("allocated", "reserved")}
        return {**self.peaks, "cell": cell}


def sticky_cuda_error(message: str) -> bool:
    """Whether an error message says the CUDA context is broken (an illegal memory access, a
    device-side assert, ...): the process cannot run another cell on that GPU."""
    text = message.lower()
    return "cuda" in text and any(kind in text for kind in STICKY_CUDA_ERRORS)


def after_cell(outcome: tuple) -> bool:
    """In a worker after each cell: True when the cell's error broke the CUDA context (the worker
    must report the outcome and exit), else release what the cell held on the GPU (its model and
    batches are garbage by now; the caching allocator keeps their blocks until emptied) and False."""
    if outcome[0] == "error" and sticky_cuda_error(outcome[1]):
        return True
    torch_module = sys.modules.get("torch")
    if torch_module is not None and torch_module.cuda.is_initialized():
        # Only a GPU needs this at once: a model caught in a reference cycle would keep its GPU
        # memory, which the next cell may need. On the CPU, Python's own collector frees such a
        # cycle soon enough, and a full collection costs about 0.2 s: a tenth of a demo training.
        gc.collect()
        torch_module.cuda.empty_cache()
    return False
