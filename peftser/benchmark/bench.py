"""``--bench UPSTREAM METHOD``: seconds per full training step and peak memory, before a grid.

The full-size backbone is built from its config with random weights (no download); the audio is
synthetic. Forward, backward and the optimiser step are all timed, after one warm-up step.
"""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time

import torch
from torch import nn

from peftser.benchmark.devices import resolve_device
from peftser.benchmark.training import _autocast, resolve_precision
from peftser.model import build_model


def bench(upstream: str, method: str, *, batch: int = 32, seconds: float = 6.0, steps: int = 5, device: str | None = None, precision: str = "fp32") -> dict:
    """Median seconds per training step and peak memory of ``upstream`` x ``method``."""
    device = resolve_device(device)
    precision = resolve_precision(precision, device)
    torch.manual_seed(0)
    model = build_model(upstream, method, pretrained=False).to(device).train()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=5e-4, betas=(0.9, 0.98), weight_decay=1e-4)
    samples = int(seconds * 16_000)
    waves = 0.1 * torch.randn(batch, samples, device=device)
    lengths = torch.full((batch,), samples, device=device)
    labels = torch.randint(0, 4, (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for step in range(steps + 1):
        _sync(device)
        start = time.perf_counter()
        with _autocast(device, precision):
            loss = loss_fn(model(waves, lengths).float(), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        if step:  # the first step is a warm-up
            times.append(time.perf_counter() - start)
    return {
        "upstream": upstream,
        "method": method,
        "batch": batch,
        "seconds": seconds,
        "steps": steps,
        "device": str(device),
        "precision": precision,
        "sec_per_step": statistics.median(times),
        "peak_memory_mb": _peak_memory_mb(device),
        "trainable_params": model.parameter_counts()["trainable_params"],
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    # Peak resident memory of the whole process (kilobytes on Linux, bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def main(args) -> int:
    upstream, method = args.bench
    if args.steps < 1 or args.batch < 1 or args.seconds <= 0:
        raise ValueError("--steps and --batch must be >= 1 and --seconds > 0")
    result = bench(upstream, method, batch=args.batch, seconds=args.seconds, steps=args.steps, device=args.device, precision=args.precision or "fp32")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{upstream} x {method} on {result['device']} ({result['precision']}): batch {args.batch} x {args.seconds:g} s, "
            f"{result['sec_per_step']:.3f} s/step (median of {args.steps}), peak memory {result['peak_memory_mb']:.0f} MB, "
            f"{result['trainable_params'] / 1e6:.2f} M trainable"
        )
    return 0
