"""What one training cell costs, for its record's ``cost``: its peak memory, its training throughput
and the share of the device's matmul throughput its training passes achieved.

The meter must cost next to nothing, since the demo grid's trainings last seconds:

- Its arithmetic is counted on one training step, the cell's first, which runs under torch's
  FlopCounterMode (on the same kernels: the training is unchanged) and is scaled to the whole
  training by the padded input it saw (batch x padded samples). The count per padded sample is
  kept per process for the model's architecture and the first batch's shape, so a worker counts
  each kind of cell once. The scaling is exact for batches of the counted shape; other padded
  lengths scale attention's share (quadratic in length, a few percent of a step at 6 s) linearly,
  and a step where LayerDrop skipped layers counts for every step.
- The device's bound is probed once per worker process (``compute.device_bound``).

So ``share_of_bound`` is the training passes' estimated arithmetic over their wall time (reading
and augmenting the batches, the optimiser's updates and Python's overhead included), against what
large matrix products reach on the same device: how much of the machine the training used, not
the speed of any one kernel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from peftser.benchmark.run.compute import count_flops, device_bound, sync
from peftser.benchmark.run.host_memory import PeakGrowth

# (architecture, batch shape, precision, device) -> floating-point operations per padded sample.
_per_sample: dict[tuple, float] = {}


def _signature(model: torch.nn.Module, waves: torch.Tensor, precision: str) -> tuple:
    """What a step's arithmetic depends on: every parameter's name, shape and whether it trains
    (backbone, method and head, their sizes), the encoder's training switches, and the batch."""
    upstream = getattr(model, "upstream", None)
    switches = (getattr(upstream, "layerdrop_enabled", None), getattr(upstream, "mask_padding_in_training", None))
    params = tuple((name, tuple(p.shape), p.requires_grad) for name, p in model.named_parameters())
    return (type(model).__name__, type(upstream).__name__, params, switches, tuple(waves.shape), precision, str(waves.device))


class CellMeter:
    """Measures a cell from its creation: ``training_pass()`` around each training pass, ``step()``
    for each training step, ``summary()`` at the end."""

    def __init__(self, device: torch.device, precision: str):
        self.device, self.precision = device, precision
        self.seconds, self.clips, self.samples = 0.0, 0, 0
        self.flops_per_sample: float | None = None
        self.host = None if device.type == "cuda" else PeakGrowth()  # on a GPU, PeakMemory's figures
        if self.host is not None:
            self.host.start()

    @contextmanager
    def training_pass(self) -> Iterator[None]:
        sync(self.device)
        start = time.perf_counter()
        yield
        sync(self.device)
        self.seconds += time.perf_counter() - start

    def step(self, run: Callable[[], Any], model: torch.nn.Module, waves: torch.Tensor) -> Any:
        """``run()``, one training step on the padded batch ``waves``; the cell's first step is counted."""
        self.clips += int(waves.shape[0])
        self.samples += waves.numel()
        if self.flops_per_sample is not None:
            return run()
        key = _signature(model, waves, self.precision)
        if key in _per_sample:
            self.flops_per_sample = _per_sample[key]
            return run()
        result, flops = count_flops(run)
        self.flops_per_sample = _per_sample[key] = flops / waves.numel()
        return result

    def summary(self, gpu_peaks: dict[str, dict[str, float]] | None) -> dict[str, Any]:
        """The record's ``cost``; ``gpu_peaks`` is PeakMemory's summary (None off the GPU)."""
        if gpu_peaks is not None:
            peak, measure = gpu_peaks["cell"]["reserved"], "CUDA reserved memory (gpu_peak_memory_mb)"
        else:
            peak = self.host.stop() if self.host else None
            measure = None if peak is None else f"RSS growth, {self.host.how}"
        if not self.clips or self.seconds <= 0:
            raise ValueError("the cell's cost needs at least one timed training step")
        gflop = (self.flops_per_sample or 0.0) * self.samples / 1e9
        achieved, bound = gflop / self.seconds, device_bound(self.device)
        return {
            "peak_memory_mb": peak,
            "peak_memory_measure": measure,
            "train_clips": self.clips,
            "train_seconds": round(self.seconds, 3),
            "train_clips_per_s": round(self.clips / self.seconds, 3),
            "train_gflop": round(gflop, 3),
            "achieved_gflops": round(achieved, 3),
            "bound_gflops": round(bound, 2),
            "share_of_bound": round(achieved / bound, 5),
        }
