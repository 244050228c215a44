"""The arithmetic a step is measured by: torch's FlopCounterMode, with the CPU attention kernel counted."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from peftser.benchmark.run.compute import count_flops
from peftser.upstream import build_upstream


def _qkv(requires_grad: bool = False):
    torch.manual_seed(0)
    return [torch.randn(2, 3, 50, 16, requires_grad=requires_grad) for _ in range(3)]


def _attend(q, k, v):
    return F.scaled_dot_product_attention(q, k, v)


def test_cpu_attention_counts_what_its_matrix_products_do():
    """Left to itself, FlopCounterMode counts the CPU kernel as nothing; counted here, its forward
    is the two products the math backend (plain bmm, which torch counts) runs for the same call."""
    with FlopCounterMode(display=False) as uncounted:
        _attend(*_qkv())
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as math:
        _attend(*_qkv())
    _, counted = count_flops(lambda: _attend(*_qkv()))
    assert uncounted.get_total_flops() == 0
    assert counted == math.get_total_flops() == 2 * (2 * 2 * 3 * 50 * 50 * 16)


def test_cpu_attention_backward_is_counted():
    def step():
        q, k, v = _qkv(requires_grad=True)
        _attend(q, k, v).sum().backward()

    _, forward = count_flops(lambda: _attend(*_qkv()))
    _, both = count_flops(step)
    # The math backend's backward is four products; the flash kernel recomputes the scores: five.
    assert forward > 0 and both == forward + 5 * forward // 2


def test_a_whisper_step_counts_its_attention():
    upstream = build_upstream("demo_whisper_tiny")
    waves, lengths = 0.1 * torch.randn(2, 16_000), torch.tensor([16_000, 16_000])
    _, counted = count_flops(lambda: upstream(waves, lengths))
    with FlopCounterMode(display=False) as plain:
        upstream(waves, lengths)
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as math:
        upstream(waves, lengths)
    assert plain.get_total_flops() < counted == math.get_total_flops()


def test_bench_counts_the_median_steps_own_layerdrop_draws(monkeypatch):
    """LayerDrop makes steps differ: the counted step replays the median timed step's draws."""
    import time
    from types import SimpleNamespace

    from peftser.benchmark.run import bench

    real_clock, late = time.perf_counter, {"s": 0.0}
    # Seconds each training step is made to last longer: the warm-up, three timed steps (the median
    # is the third), the counted step.
    extra = iter([0.0, 5.0, 1.0, 3.0, 0.0])
    states = []  # the generator's state as each training step starts
    real_train_step = bench.train_step

    def spying_train_step(*args, **kwargs):
        states.append(torch.get_rng_state())
        result = real_train_step(*args, **kwargs)
        late["s"] += next(extra)
        return result

    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: real_clock() + late["s"]))
    monkeypatch.setattr(bench, "train_step", spying_train_step)
    result = bench.bench("demo_wavlm_base_plus", "lora", batch=2, seconds=1.0, steps=3)
    warm_up, first, second, third, counted = states
    assert 3.0 < result["sec_per_step"] < 4.0
    assert torch.equal(counted, third)
    assert not torch.equal(counted, second)  # each step draws: the states differ
    assert result["achieved_gflops"] == pytest.approx(result["step_gflop"] / result["sec_per_step"])
