"""``--bench UPSTREAM METHOD``: seconds per full training step, evaluation throughput and peak
memory, before a grid.

The full-size backbone is built from its config with random weights (no download); the audio is
synthetic. Forward, backward and the optimiser step are all timed, after one warm-up step.
Evaluation scores ``steps`` batches of a dev set of clips of 1 s to ``seconds`` (uniform), one at
a time (as the reference code did) and in padded batches sorted by length (as the harness does).
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np
import torch
from torch import nn

from peftser.benchmark.config import TrainConfig
from peftser.benchmark.run.batches import collate, eval_batches
from peftser.benchmark.run.compute import count_flops, matmul_bound, sync
from peftser.benchmark.run.devices import resolve_device
from peftser.benchmark.run.gpu import PeakMemory, gpu_settings, select
from peftser.benchmark.run.training import _autocast, make_optimizer, resolve_precision, train_step
from peftser.downstream.decode import MIN_SAMPLES
from peftser.downstream.task import EMOTIONS
from peftser.model import build_model
from peftser.sample_rate import SAMPLE_RATE


def step_flops(model, waves, lengths, labels, optimizer, loss_fn, device, precision) -> int:
    """Floating-point operations of one training step (forward and backward), as torch's
    FlopCounterMode counts them (matrix products, convolutions and attention; ``count_flops``)."""
    return count_flops(lambda: train_step(model, waves, lengths, labels, optimizer, loss_fn, device, precision))[1]


def bench(upstream: str, method: str, *, batch: int = 32, seconds: float = 6.0, steps: int = 5, device: str | None = None, precision: str = "fp32") -> dict:
    """Median seconds per training step and peak memory of ``upstream`` x ``method``."""
    device = resolve_device(device)
    select(device)
    precision = resolve_precision(precision, device)
    torch.manual_seed(0)
    model = build_model(upstream, method, pretrained=False).to(device).train()
    optimizer = make_optimizer(model, TrainConfig())  # the training's own step, with the protocol's optimiser
    samples = int(seconds * SAMPLE_RATE)
    waves = 0.1 * torch.randn(batch, samples, device=device)
    lengths = torch.full((batch,), samples, device=device)
    labels = torch.randint(0, len(EMOTIONS), (batch,), device=device)
    loss_fn = nn.CrossEntropyLoss()
    memory = PeakMemory(device)  # on a GPU: peak allocated and reserved memory, training and evaluation apart
    times, draws = [], []
    with memory.phase("training"):
        for step in range(steps + 1):
            state = torch.get_rng_state()
            sync(device)
            start = time.perf_counter()
            train_step(model, waves, lengths, labels, optimizer, loss_fn, device, precision)
            sync(device)
            if step:  # the first step is a warm-up
                times.append(time.perf_counter() - start)
                draws.append(state)
    # The median step, and its own arithmetic: LayerDrop skips layers at random (drawn from the CPU
    # generator, on any device), so another step's count can miss or add a layer (about 7 % of a
    # WavLM step). Replaying that step's generator state replays its skips.
    median = sorted(range(steps), key=times.__getitem__)[(steps - 1) // 2]
    torch.set_rng_state(draws[median])
    flops = step_flops(model, waves, lengths, labels, optimizer, loss_fn, device, precision)
    bound = matmul_bound(device)
    with memory.phase("evaluation"):
        evaluation = bench_eval(model, batches=steps, batch=batch, seconds=seconds, device=device, precision=precision)
    gpu_peaks = memory.summary()
    achieved = flops / times[median] / 1e9
    return {
        "upstream": upstream,
        "method": method,
        "batch": batch,
        "seconds": seconds,
        "steps": steps,
        "device": str(device),
        "precision": precision,
        "sec_per_step": times[median],  # the median (of an even count, the lower middle one)
        "step_gflop": flops / 1e9,
        "achieved_gflops": achieved,
        "matmul_gflops": bound,  # the device's practical bound, measured in this run
        "share_of_bound": achieved / bound,
        **evaluation,
        # On a GPU the whole run's peak reserved memory (what sharing a GPU needs), else the process' peak.
        "peak_memory_mb": gpu_peaks["cell"]["reserved"] if gpu_peaks else _process_peak_memory_mb(),
        "gpu_peak_memory_mb": gpu_peaks,
        "gpu": gpu_settings(device),
        "trainable_params": model.parameter_counts()["trainable_params"],
    }


@torch.no_grad()
def bench_eval(
    model, *, batches: int, batch: int, seconds: float, device: torch.device, precision: str = "fp32", dev_clips: int = 1000
) -> dict:
    """Clips per second scoring a dev set one clip at a time and in padded batches of ``batch``,
    and the largest difference between the two ways' logits.

    The dev set is about ``dev_clips`` clips of 1 s to ``seconds`` (uniform), sorted by length and
    cut into batches as evaluation does, so a batch holds clips of similar length. ``batches`` of
    them, spread evenly over the lengths, are timed both ways, batch after batch, so that both see
    the same machine (other work on a shared one slows them alike).
    """
    model.eval()
    rng = np.random.default_rng(0)
    size = batch * max(batches, -(-dev_clips // batch))
    lengths = rng.integers(SAMPLE_RATE, int(max(seconds, 1.0) * SAMPLE_RATE) + 1, size=size).tolist()
    every = eval_batches(lengths, batch)
    timed = [every[k] for k in sorted(set(np.linspace(0, len(every) - 1, batches).round().astype(int).tolist()))]
    waves = {i: (0.1 * rng.standard_normal(lengths[i])).astype(np.float32) for group in timed for i in group}

    def run(group: list[int]) -> tuple[float, torch.Tensor]:
        x, n = collate([waves[i] for i in group])
        sync(device)
        start = time.perf_counter()
        with _autocast(device, precision):
            logits = model(x.to(device), n.to(device)).float().cpu()
        sync(device)
        return time.perf_counter() - start, logits

    run(timed[0]), run(timed[0][:1])  # warm-up
    alone_s = batched_s = difference = 0.0
    for group in timed:
        seconds_batched, logits = run(group)
        batched_s += seconds_batched
        for i, row in zip(group, logits):
            seconds_alone, single = run([i])
            alone_s += seconds_alone
            difference = max(difference, float((single[0] - row).abs().max()))
    return {
        "eval_clips": len(waves),
        "eval_clips_per_s_alone": len(waves) / alone_s,
        "eval_clips_per_s_batched": len(waves) / batched_s,
        "eval_max_logit_difference": difference,
    }


def _process_peak_memory_mb() -> float:
    # Peak resident memory of the whole process (kilobytes on Linux, bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


# --seconds: at least the shortest clip every encoder takes (MIN_SAMPLES, 25 ms), at most Whisper's
# 30 s window (its positional table; the protocol cuts clips at 6 s).
SECONDS_RANGE = (MIN_SAMPLES / SAMPLE_RATE, 30.0)


def check_bench_options(*, batch: int, seconds: float, steps: int) -> None:
    """A ValueError naming the first option out of its range."""
    if steps < 1:
        raise ValueError(f"--steps must be at least 1, got {steps}")
    if batch < 1:
        raise ValueError(f"--batch must be at least 1, got {batch}")
    low, high = SECONDS_RANGE
    if not low <= seconds <= high:  # also refuses nan and inf
        raise ValueError(f"--seconds must lie in [{low:g}, {high:g}] (seconds of audio per clip), got {seconds:g}")


def _out_of_memory(err: BaseException) -> bool:
    # torch.OutOfMemoryError on a GPU; on the CPU the allocator's RuntimeError, or Python's MemoryError
    return isinstance(err, (MemoryError, torch.OutOfMemoryError)) or "can't allocate memory" in str(err)


def _first_line(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return text.split("DefaultCPUAllocator: ")[-1].rstrip(".")  # the allocator's words, not its source location


def bench_command(upstream: str, method: str, *, batch: int = 32, seconds: float = 6.0, steps: int = 5,
                  device: str | None = None, precision: str = "fp32", as_json: bool = False) -> int:
    """``--bench UPSTREAM METHOD``: print the figures (as JSON with ``as_json``)."""
    check_bench_options(batch=batch, seconds=seconds, steps=steps)
    try:
        result = bench(upstream, method, batch=batch, seconds=seconds, steps=steps, device=device, precision=precision)
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        raise ValueError(
            f"out of memory for --batch {batch} x --seconds {seconds:g} ({_first_line(err)}); lower --batch or --seconds"
        ) from None
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"{upstream} x {method} on {result['device']} ({result['precision']}): batch {batch} x {seconds:g} s, "
            f"{result['sec_per_step']:.3f} s/step (median of {steps}), peak memory {result['peak_memory_mb']:.0f} MB, "
            f"{result['trainable_params'] / 1e6:.2f} M trainable\n"
            f"compute: {result['step_gflop']:.1f} GFLOP a step, {result['achieved_gflops']:.0f} GFLOP/s achieved, "
            f"{result['share_of_bound']:.0%} of this device's matmul throughput measured now ({result['matmul_gflops']:.0f} GFLOP/s)\n"
            f"evaluation ({result['eval_clips']} clips of a dev set of 1-{seconds:g} s): {result['eval_clips_per_s_alone']:.2f} "
            f"clips/s one at a time, {result['eval_clips_per_s_batched']:.2f} clips/s in padded batches of {batch} "
            f"(largest logit difference {result['eval_max_logit_difference']:.1e})"
        )
        if result["gpu_peak_memory_mb"]:
            peaks = result["gpu_peak_memory_mb"]
            print(f"GPU {result['gpu']['name']} (physical device {result['gpu']['physical_device']}): peak memory allocated / reserved "
                  + ", ".join(f"{phase} {p['allocated']:.0f} / {p['reserved']:.0f} MB" for phase, p in peaks.items()))
    return 0
