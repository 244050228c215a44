"""The arithmetic a step is measured by: torch's FlopCounterMode, with the CPU attention kernel counted."""

from __future__ import annotations

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
