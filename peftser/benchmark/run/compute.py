"""How much arithmetic a training step does, and how fast the device can do such arithmetic.

Shared by ``--bench`` (one step of a full-size encoder against a thorough probe) and by every
training cell (its own steps against a probe cached per worker process, see ``device_bound``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

# The matmul shapes these encoders spend their steps in (frames x hidden x feed-forward, and square),
# for the device's practical throughput: the bound a training step is measured against.
PROBE_SHAPES = ((1200, 768, 3072), (1200, 3072, 768), (2048, 2048, 2048), (1200, 384, 1536))
# A training cell's probe on the CPU: one encoder-shaped product with fewer frames. One thread ran
# it within a few percent of the shapes above (31 against 31 to 33 GFLOP/s) in under a tenth of
# their time (0.4 s against 4.8 s), which a worker of second-long demo trainings cannot spare. On a
# GPU the full set takes milliseconds, and a small product there would understate the device.
CPU_CELL_PROBE_SHAPES = ((512, 768, 3072),)

_bounds: dict[tuple[str, int], float] = {}


def count_flops(step: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``step()`` returned, the floating-point operations it ran as torch's FlopCounterMode
    counts them: matrix products, convolutions and attention, forward and backward; elementwise
    work such as the optimiser's update is not counted). The step runs on the same kernels, so
    what it computes is unchanged."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_formulas()) as counter:
        result = step()
    return result, int(counter.get_total_flops())


def _cpu_attention_formulas() -> dict:
    """FlopCounterMode's formulas for ``scaled_dot_product_attention``'s CPU kernel, which it lacks.

    It counts the GPU kernels (flash, memory-efficient, cuDNN) but has no formula for
    ``_scaled_dot_product_flash_attention_for_cpu`` (torch 2.13), the kernel Whisper's and wav2vec
    2.0's attention run on a CPU, and counts it as zero: a CPU step's count then leaves attention
    out. These are torch's own formulas for its flash kernels (the backward recomputes the scores:
    five products against the forward's two); a torch that counts the kernel itself keeps its own.
    """
    from torch.utils import flop_counter

    aten = torch.ops.aten
    formulas = {
        "_scaled_dot_product_flash_attention_for_cpu":
            lambda query, key, value, *args, out_shape=None, **kwargs: flop_counter.sdpa_flop_count(query, key, value),
        "_scaled_dot_product_flash_attention_for_cpu_backward":
            lambda grad_out, query, key, value, *args, out_shape=None, **kwargs:
                flop_counter.sdpa_backward_flop_count(grad_out, query, key, value),
    }
    ops = {getattr(aten, name, None): formula for name, formula in formulas.items()}
    return {op: formula for op, formula in ops.items() if op is not None and op not in flop_counter.flop_registry}


def matmul_bound(device: torch.device, repeats: int = 5, shapes: Sequence[tuple[int, int, int]] = PROBE_SHAPES) -> float:
    """The device's practical fp32 matmul throughput in GFLOP/s: over ``shapes``, the median of
    each shape's best of ``repeats`` timed products."""
    rates = []
    for m, k, n in shapes:
        a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
        torch.mm(a, b)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            torch.mm(a, b)
            sync(device)
            best = min(best, time.perf_counter() - start)
        rates.append(2 * m * k * n / best / 1e9)
    return float(statistics.median(rates))


def device_bound(device: torch.device) -> float:
    """``matmul_bound`` for training cells: probed once per process, device and torch thread
    count, then reused by every later cell of the worker. A shared machine's throughput moves with
    its load, so the figure is the one of the moment of the worker's first cell, not of each cell."""
    key = (str(device), torch.get_num_threads())
    if key not in _bounds:
        shapes = PROBE_SHAPES if device.type == "cuda" else CPU_CELL_PROBE_SHAPES
        _bounds[key] = matmul_bound(device, repeats=3, shapes=shapes)
    return _bounds[key]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so that a clock reading covers it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
