"""The CUDA path, on the CPU: where no GPU can run it, a patched ``torch.cuda`` records what the
code asks of it, and each test fails on code that asks the wrong thing (issue 24)."""

from __future__ import annotations

import torch
from torch import nn

from peftser.upstream import build_upstream
from peftser.upstream.wav2vec2 import per_clip


def test_building_an_upstream_leaves_the_gpu_generators_to_the_training_seed(monkeypatch):
    """Dropout on a GPU draws from the CUDA generators: building the upstream (seeded by its name,
    for reproducible random weights) must not reseed them, or every training's masks would follow
    the upstream's name instead of the training's seed."""
    seeded = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: seeded.append(int(seed)))
    torch.manual_seed(16)  # what run_cell does before building the model
    cpu_state = torch.random.get_rng_state()
    first = build_upstream("demo_wav2vec2_base")
    assert seeded == [16]  # the training's seed, and nothing after it
    assert torch.equal(torch.random.get_rng_state(), cpu_state)  # the CPU generator is restored too
    again = build_upstream("demo_wav2vec2_base")  # the random weights are still a function of the name
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_per_clip_group_norm_statistics_are_float32_under_autocast():
    """Evaluation's exact-padding path normalises the first convolution's bf16 output (autocast)
    with each clip's own statistics: they must be float32, as the library's GroupNorm computes
    them in training, not rounded to bf16."""
    torch.manual_seed(0)
    norm = nn.GroupNorm(4, 4)
    h = (3.0 + 0.05 * torch.randn(2, 4, 400)).to(torch.bfloat16)  # a mean bf16 rounds by a tenth of the spread
    valid = [400, 250]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = per_clip(norm, h, torch.tensor(valid))
    assert out.dtype == torch.float32
    for b, n in enumerate(valid):
        alone = nn.functional.group_norm(h[b : b + 1, :, :n].float(), 4, norm.weight, norm.bias, norm.eps)[0]
        torch.testing.assert_close(out[b, :, :n], alone, rtol=0, atol=1e-4)
