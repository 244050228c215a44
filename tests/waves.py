"""Speech-like test waves for the upstream tests: one clip, and a zero-padded batch of them."""

from __future__ import annotations

import math

import torch


def clip(samples: int, seed: int = 0) -> torch.Tensor:
    """A tone plus noise, speech-like in level."""
    generator = torch.Generator().manual_seed(seed)
    t = torch.arange(samples) / 16_000
    return 0.3 * torch.sin(2 * math.pi * 220 * t) + 0.05 * torch.randn(samples, generator=generator)


def batch(lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of the given lengths, zero-padded to the longest."""
    waves = torch.zeros(len(lengths), max(lengths))
    for row, length in enumerate(lengths):
        waves[row, :length] = clip(length, seed=row)
    return waves, torch.tensor(lengths)
